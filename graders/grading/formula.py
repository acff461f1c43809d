"""A multi grader's `calculate_output`: arithmetic over named grader scores, parsed with `ast` and walked here, never
passed to eval.

Allowed: numbers, grader names, + - * / ** (and ^ as power, as OpenAI's formulas write it), unary + and -, brackets,
and the functions min, max, abs, floor, ceil, exp, sqrt, log with positional arguments.
"""

import ast
import math

FUNCTIONS = {"min": min, "max": max, "abs": abs, "floor": math.floor, "ceil": math.ceil, "exp": math.exp,
             "sqrt": math.sqrt, "log": math.log}
OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
             ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}
FORMULA_MAX_CHARS = 1000


class FormulaError(ValueError):
    """The formula is not one this module evaluates; the message says where."""


def formula_parse(text: str) -> ast.Expression:
    """The formula's tree, every node checked; raises FormulaError at the first node that is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the formula is empty")
    if len(text) > FORMULA_MAX_CHARS:
        raise FormulaError(f"the formula is {len(text)} characters; the limit is {FORMULA_MAX_CHARS}")
    try:
        # ^ means power in OpenAI's formulas; as Python's ** it also binds tighter than + and *.
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as error:
        raise FormulaError(f"not a formula: {error.msg} at column {error.offset}") from error
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Load, ast.UAdd, ast.USub, ast.Name)):
            continue
        if isinstance(node, tuple(OPERATORS)):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
                and not node.keywords:
            continue
        raise FormulaError(f"{ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__!s} "
                           "is not allowed in a formula")
    return tree


def formula_names(tree: ast.Expression) -> set[str]:
    """The grader names a formula reads (function names excluded)."""
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called}


def formula_evaluate(tree: ast.Expression, values: dict[str, float]) -> float:
    """The formula's value for `values` (grader name → score). Raises FormulaError for an unknown name and
    ArithmeticError/ValueError for a division by zero or a math domain error."""

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise FormulaError(f"the formula names {node.id!r}, which is not one of its graders")
            return float(values[node.id])
        if isinstance(node, ast.UnaryOp):
            operand = walk(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return float(OPERATORS[type(node.op)](walk(node.left), walk(node.right)))
        if isinstance(node, ast.Call):
            return float(FUNCTIONS[node.func.id](*[walk(argument) for argument in node.args]))
        raise FormulaError(f"{type(node).__name__} is not allowed in a formula")

    return walk(tree)

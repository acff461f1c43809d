"""Label trees as data: validation, the indented-text form people type, and the nested form pages and the API show.

A tree is a list of nodes, each {"name": str, "description": str?, "examples": [str, ...]?, "children": [node, ...]?}.
Names are joined with "/" into a label's path ("billing/refund"), so a name may not contain "/". Examples are short
texts that belong under the label, shown to annotators and AI annotators. No database access here.
"""

from dataclasses import dataclass, field

from common.errors import ApplicationError

MAX_NAME_CHARS = 100
MAX_PATH_CHARS = 500
MAX_LABELS = 2000
MAX_EXAMPLES = 10
MAX_EXAMPLE_CHARS = 500


@dataclass
class FlatLabel:
    """One node in depth-first order; `parent_index` points into the same flat list (None for a root)."""

    name: str
    path: str
    description: str
    parent_index: int | None
    depth: int
    has_children: bool = False
    examples: list[str] = field(default_factory=list)


def label_tree_validate(tree) -> list[FlatLabel]:
    """Check a tree and return its nodes flattened depth-first, each error naming its place
    (`tree[1].children[0].name`)."""
    if not isinstance(tree, list) or not tree:
        raise ApplicationError("the label tree needs at least one label", where="tree")
    flat: list[FlatLabel] = []
    _walk(tree, where="tree", parent_index=None, parent_path="", depth=0, flat=flat)
    if len(flat) > MAX_LABELS:
        raise ApplicationError(f"the tree has {len(flat)} labels; the limit is {MAX_LABELS}", where="tree")
    return flat


def _walk(nodes, *, where: str, parent_index: int | None, parent_path: str, depth: int, flat: list[FlatLabel]) -> None:
    seen: dict[str, int] = {}
    for i, node in enumerate(nodes):
        place = f"{where}[{i}]"
        if not isinstance(node, dict):
            raise ApplicationError("a label must be an object with a name", where=place)
        unknown = set(node) - {"name", "description", "examples", "children"}
        if unknown:
            raise ApplicationError(
                f"unknown key {sorted(unknown)[0]!r}; use name, description, examples and children", where=place
            )
        name = node.get("name")
        if not isinstance(name, str):
            raise ApplicationError("a name must be text", where=f"{place}.name")
        name = " ".join(name.split())
        if not name:
            raise ApplicationError("empty", where=f"{place}.name")
        if "/" in name:
            raise ApplicationError(
                f"{name!r} contains '/', which separates the levels of a path", where=f"{place}.name"
            )
        if len(name) > MAX_NAME_CHARS:
            raise ApplicationError(f"longer than {MAX_NAME_CHARS} characters", where=f"{place}.name")
        if name.casefold() in seen:
            raise ApplicationError(
                f"{name!r} repeats the name of its sibling {where}[{seen[name.casefold()]}]", where=f"{place}.name"
            )
        seen[name.casefold()] = i
        description = node.get("description") or ""
        if not isinstance(description, str):
            raise ApplicationError("a description must be text", where=f"{place}.description")
        path = f"{parent_path}/{name}" if parent_path else name
        if len(path) > MAX_PATH_CHARS:
            raise ApplicationError(
                f"the path {path!r} is longer than {MAX_PATH_CHARS} characters", where=f"{place}.name"
            )
        children = node.get("children") or []
        if not isinstance(children, list):
            raise ApplicationError("children must be a list of labels", where=f"{place}.children")
        examples = _examples_check(node.get("examples"), where=f"{place}.examples")
        index = len(flat)
        flat.append(
            FlatLabel(
                name=name,
                path=path,
                description=description.strip(),
                parent_index=parent_index,
                depth=depth,
                has_children=bool(children),
                examples=examples,
            )
        )
        _walk(children, where=f"{place}.children", parent_index=index, parent_path=path, depth=depth + 1, flat=flat)


def _examples_check(examples, *, where: str) -> list[str]:
    if examples is None:
        return []
    if not isinstance(examples, list):
        raise ApplicationError("examples must be a list of texts", where=where)
    if len(examples) > MAX_EXAMPLES:
        raise ApplicationError(f"{len(examples)} examples; the limit is {MAX_EXAMPLES} per label", where=where)
    clean = []
    for i, example in enumerate(examples):
        if not isinstance(example, str) or not example.strip():
            raise ApplicationError("an example must be non-empty text", where=f"{where}[{i}]")
        if len(example.strip()) > MAX_EXAMPLE_CHARS:
            raise ApplicationError(f"longer than {MAX_EXAMPLE_CHARS} characters", where=f"{where}[{i}]")
        clean.append(" ".join(example.split()))
    return clean


def label_tree_from_text(text: str) -> list[dict]:
    """Parse the indented form: one label per line, children indented deeper than their parent.

        billing: Money questions
          refund
          invoice
        account
          login

    Text after the first ": " is the description. A line starting with ">" is an example of the label above it
    (`  > Where is my refund?`), whatever its indent. Tabs count as four spaces; blank lines and lines starting with
    "#" are ignored. Errors name the line ("line 3: ...").
    """
    roots: list[dict] = []
    lines: dict[int, int] = {}
    roots_indent: int | None = None
    # The open ancestors from the root down to the last label read: [indent, node, indent of its children].
    stack: list[list] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.expandtabs(4).rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if line.lstrip().startswith(">"):
            if not stack:
                raise ApplicationError(
                    "an example (a line starting with >) needs a label above it", where=f"line {number}"
                )
            stack[-1][1].setdefault("examples", []).append(line.lstrip()[1:].strip())
            continue
        name, _, description = line.strip().partition(": ")
        node = {"name": name.strip(), "description": description.strip(), "children": []}
        lines[id(node)] = number
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack:
            parent = stack[-1]
            if parent[2] is None:
                parent[2] = indent
            elif parent[2] != indent:
                raise ApplicationError("the indentation matches no earlier level", where=f"line {number}")
            parent[1]["children"].append(node)
        else:
            if roots_indent is None:
                roots_indent = indent
            elif roots_indent != indent:
                raise ApplicationError("the indentation matches no earlier level", where=f"line {number}")
            roots.append(node)
        stack.append([indent, node, None])
    if not roots:
        raise ApplicationError("type at least one label", where="line 1")
    try:
        label_tree_validate(roots)
    except ApplicationError as error:
        raise ApplicationError(error.message, where=f"line {_line_of(roots, error.where, lines)}") from error
    return roots


def _line_of(roots: list[dict], where: str, lines: dict[int, int]) -> int:
    """The line of the node a validation error names ("tree[0].children[2].name" -> that node's line)."""
    node, nodes = None, roots
    for part in where.split("."):
        if "[" not in part:
            break
        index = int(part[part.index("[") + 1 : -1])
        if index >= len(nodes):
            break
        node = nodes[index]
        nodes = node.get("children") or []
    return lines.get(id(node), 1)


def label_tree_to_text(tree: list[dict], *, indent: int = 0) -> str:
    """The indented form of a tree (the inverse of label_tree_from_text)."""
    lines = []
    for node in tree:
        description = f": {node['description']}" if node.get("description") else ""
        lines.append(" " * indent + node["name"] + description)
        lines.extend(" " * (indent + 2) + f"> {example}" for example in node.get("examples") or [])
        if node.get("children"):
            lines.append(label_tree_to_text(node["children"], indent=indent + 2))
    return "\n".join(lines)


@dataclass
class LabelNode:
    """A label with its children, for display; `shortcut` numbers the selectable labels 1, 2, 3 ... depth-first."""

    id: int
    name: str
    path: str
    description: str
    depth: int
    selectable: bool
    shortcut: int | None
    children: list["LabelNode"] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def label_tree_nested(labels, *, leaf_only: bool) -> list[LabelNode]:
    """Nest Label rows (any order with parents before children after sorting by `order`) into LabelNodes."""
    labels = sorted(labels, key=lambda label: (label.order, label.pk))
    has_children = {label.parent_id for label in labels if label.parent_id is not None}
    nodes: dict[int, LabelNode] = {}
    roots: list[LabelNode] = []
    shortcut = 0
    for label in labels:
        selectable = not (leaf_only and label.pk in has_children)
        if selectable:
            shortcut += 1
        parent = nodes.get(label.parent_id) if label.parent_id is not None else None
        node = LabelNode(
            id=label.pk,
            name=label.name,
            path=label.path,
            description=label.description,
            depth=parent.depth + 1 if parent else 0,
            selectable=selectable,
            shortcut=shortcut if selectable else None,
            examples=list(getattr(label, "examples", None) or []),
        )
        nodes[label.pk] = node
        (parent.children if parent else roots).append(node)
    return roots


def label_nodes_flat(roots: list[LabelNode]) -> list[LabelNode]:
    """Depth-first list of every node, for templates that draw the tree as indented rows."""
    out: list[LabelNode] = []
    for node in roots:
        out.append(node)
        out.extend(label_nodes_flat(node.children))
    return out

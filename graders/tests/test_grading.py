"""The Django-free grading: definitions, templates, each grader kind, the judge's score parsing and the formula."""

import pytest

from graders.grading.definitions import DefinitionError, definition_check, definition_kinds
from graders.grading.formula import FormulaError, formula_evaluate, formula_names, formula_parse
from graders.grading.scoring import grade_many, rouge_l, sample_of, score_parse, string_check, template_fill


def test_string_check_operations():
    assert [string_check(op, "The Answer", "Answer") for op in ("eq", "ne", "like", "ilike")] == [0.0, 1.0, 1.0, 1.0]
    assert [string_check(op, "the answer", "Answer") for op in ("eq", "ne", "like", "ilike")] == [0.0, 1.0, 0.0, 1.0]


def test_templates_fill_from_the_sample_and_the_item():
    sample = sample_of('{"city": "Paris"}')
    item = {"reference": "Paris", "tags": ["a"]}
    assert template_fill("{{ sample.output_json.city }}/{{item.reference}}/{{item.tags}}/{{item.none}}", sample,
                         item) == 'Paris/Paris/["a"]/'


def test_similarity_metrics():
    definitions = {metric: definition_check({"type": "text_similarity", "name": metric, "evaluation_metric": metric})
                   for metric in ("fuzzy_match", "bleu", "rouge_l", "cosine")}
    pairs = [(sample_of("the cat sat on the mat"), {"reference": "the cat sat on the mat"}),
             (sample_of("a dog"), {"reference": "the cat sat on the mat"})]
    assert [g.score for g in grade_many(definitions["fuzzy_match"], pairs)][0] == 1.0
    assert [round(g.score, 3) for g in grade_many(definitions["bleu"], pairs)] == [1.0, 0.0]
    assert [g.score for g in grade_many(definitions["rouge_l"], pairs)] == [1.0, 0.0]
    assert rouge_l("我想退货", "我要退货") == 0.75  # CJK letters are words
    cosine = grade_many(definitions["cosine"], pairs)
    assert (cosine[0].score, cosine[0].reason) == (0.0, "cosine similarity needs an embedding model, and none is "
                                                        "configured here")
    vectors = {"the cat sat on the mat": [1.0, 0.0], "a dog": [0.6, 0.8]}
    assert [g.score for g in grade_many(definitions["cosine"], pairs, embed=lambda texts: [vectors[t] for t in texts])
            ] == [1.0, 0.6]


@pytest.mark.parametrize("reply,expected", [
    ('{"score": 0.8, "why": "good"}', (0.8, "")),
    ("Score: 7/10", (0.7, "")),
    ("**Rating:** 3/5. Solid.", (0.6, "")),
    ("I would give it 1", (1.0, "")),
    ("2", (1.0, "the judge's score 2 was outside [0, 1]")),
    ("no idea", (0.0, "the judge's reply held no score: 'no idea'")),
])
def test_a_judges_score_is_parsed_robustly(reply, expected):
    assert score_parse(reply, 0.0, 1.0) == expected


def test_score_model_asks_with_the_filled_rubric_and_survives_a_failing_judge():
    rubric = "A: {{sample.output_text}} R: {{item.reference}}"
    definition = definition_check({"type": "score_model", "name": "judge", "model": "m", "range": [0, 10],
                                   "input": [{"role": "user", "content": rubric}]})
    asked = []

    def ask(grader, messages):
        asked.append(messages)
        if "boom" in messages[0]["content"]:
            raise RuntimeError("endpoint down")
        return "Score: 8"

    grades = grade_many(definition, [(sample_of("yes"), {"reference": "y"}), (sample_of("boom"), {"reference": "y"})],
                        ask_model=ask)
    assert asked[0] == [{"role": "user", "content": "A: yes R: y"}]
    assert [(g.score, g.reason) for g in grades] == [(8.0, ""), (0.0, "the judge could not be asked: endpoint down")]
    assert grade_many(definition, [(sample_of("x"), {})])[0].score == 0.0


def test_formula_is_parsed_not_evaluated():
    tree = formula_parse("0.5 * a + 0.5 * max(b, c) - abs(-1) + 2 ^ 2")
    assert formula_names(tree) == {"a", "b", "c"}
    assert formula_evaluate(tree, {"a": 1.0, "b": 0.2, "c": 0.4}) == 0.5 + 0.2 - 1 + 4
    for unsafe in ("__import__('os').system('x')", "a.b", "a[0]", "(lambda: 1)()", "open('f')", "a if b else c",
                   "max(a, key=b)", "'text'"):
        with pytest.raises(FormulaError):
            formula_parse(unsafe)
    with pytest.raises(FormulaError, match="not one of its graders"):
        formula_evaluate(formula_parse("z"), {"a": 1.0})


def test_multi_combines_named_graders_and_zeroes_a_failing_formula():
    definition = definition_check({"type": "multi", "name": "m", "calculate_output": "0.7 * exact + 0.3 * overlap",
                                   "graders": {"exact": {"type": "string_check", "operation": "eq"},
                                               "overlap": {"type": "text_similarity",
                                                           "evaluation_metric": "rouge_l"}}})
    [grade] = grade_many(definition, [(sample_of("a b"), {"reference": "a b"})])
    assert (grade.score, grade.parts) == (1.0, {"exact": 1.0, "overlap": 1.0})
    divided = definition_check({**definition, "calculate_output": "exact / overlap"})
    [grade] = grade_many(divided, [(sample_of("x"), {"reference": "y"})])
    assert (grade.score, grade.reason) == (0.0, "the formula failed: float division by zero")


@pytest.mark.parametrize("definition,where", [
    ({"type": "nope"}, "type"),
    ({"type": "string_check", "operation": "contains"}, "operation"),
    ({"type": "text_similarity", "evaluation_metric": "meteor"}, "evaluation_metric"),
    ({"type": "python", "source": "x = 1"}, "source"),
    ({"type": "score_model", "model": "m", "input": [{"role": "user"}]}, "input"),
    ({"type": "score_model", "model": "m", "input": [{"role": "user", "content": "x"}], "range": [1, 0]}, "range"),
    ({"type": "multi", "graders": {"a": {"type": "string_check", "operation": "eq"}}, "calculate_output": "a + b"},
     "calculate_output"),
    ({"type": "multi", "graders": {"a": {"type": "string_check", "operation": "x"}}, "calculate_output": "a"},
     "graders.a.operation"),
    ({"type": "multi", "graders": {"a": {"type": "multi", "graders": {}, "calculate_output": "1"}},
      "calculate_output": "a"}, "graders.a.type"),
])
def test_bad_definitions_name_the_field(definition, where):
    with pytest.raises(DefinitionError) as raised:
        definition_check({"name": "g", **definition})
    assert raised.value.where == where


def test_kinds_of_a_definition_include_its_inner_graders():
    definition = definition_check({"type": "multi", "name": "m", "calculate_output": "a + b", "graders": {
        "a": {"type": "python", "source": "def grade(s, i):\n    return 1\n"},
        "b": {"type": "text_similarity", "evaluation_metric": "cosine"}}})
    assert definition_kinds(definition) == {"multi", "python", "text_similarity", "cosine"}

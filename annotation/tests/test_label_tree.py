import pytest

from annotation.label_tree import label_tree_from_text, label_tree_to_text, label_tree_validate
from common.errors import ApplicationError


def test_validate_flattens_depth_first_with_paths():
    tree = [
        {"name": "billing", "children": [{"name": "refund", "children": [{"name": "partial"}]}]},
        {"name": "account"},
    ]
    flat = label_tree_validate(tree)
    assert [(n.path, n.depth, n.parent_index, n.has_children) for n in flat] == [
        ("billing", 0, None, True),
        ("billing/refund", 1, 0, True),
        ("billing/refund/partial", 2, 1, False),
        ("account", 0, None, False),
    ]


@pytest.mark.parametrize(("tree", "where", "message"), [
    ([], "tree", "the label tree needs at least one label"),
    ([{"name": "a"}, {"name": "b", "children": [{"name": "  "}]}], "tree[1].children[0].name", "empty"),
    ([{"name": "a/b"}], "tree[0].name", "'a/b' contains '/', which separates the levels of a path"),
    ([{"name": "a", "children": [{"name": "x"}, {"name": "X"}]}], "tree[0].children[1].name",
     "'X' repeats the name of its sibling tree[0].children[0]"),
    ([{"name": "a", "children": "x"}], "tree[0].children", "children must be a list of labels"),
    ([{"name": "a", "colour": "red"}], "tree[0]", "unknown key 'colour'; use name, description, examples and children"),
    (["a"], "tree[0]", "a label must be an object with a name"),
])
def test_validate_names_the_place(tree, where, message):
    with pytest.raises(ApplicationError) as error:
        label_tree_validate(tree)
    assert (error.value.where, error.value.message) == (where, message)


def test_indented_text_parses_to_a_tree_and_back():
    text = "billing: Money questions\n  refund\n  invoice\naccount\n  login\n    sso\n"
    tree = label_tree_from_text(text)
    assert tree == [
        {
            "name": "billing",
            "description": "Money questions",
            "children": [
                {"name": "refund", "description": "", "children": []},
                {"name": "invoice", "description": "", "children": []},
            ],
        },
        {
            "name": "account",
            "description": "",
            "children": [
                {"name": "login", "description": "", "children": [{"name": "sso", "description": "", "children": []}]}
            ],
        },
    ]
    assert label_tree_to_text(tree) + "\n" == text


def test_text_tabs_blank_lines_and_comments():
    leaf = {"name": "b", "description": "", "children": []}
    assert label_tree_from_text("# topics\n\na\n\tb\n") == [{"name": "a", "description": "", "children": [leaf]}]


@pytest.mark.parametrize(("text", "where", "message"), [
    ("a\n    b\n  c", "line 3", "the indentation matches no earlier level"),
    ("  a\nb", "line 2", "the indentation matches no earlier level"),
    ("a\n  b\n  B", "line 3", "'B' repeats the name of its sibling tree[0].children[0]"),
    ("a\n  x/y", "line 2", "'x/y' contains '/', which separates the levels of a path"),
    ("\n# nothing\n", "line 1", "type at least one label"),
])
def test_text_errors_name_the_line(text, where, message):
    with pytest.raises(ApplicationError) as error:
        label_tree_from_text(text)
    assert (error.value.where, error.value.message) == (where, message)


def test_examples_come_from_lines_starting_with_a_chevron_and_round_trip():
    text = "billing: Money questions\n  refund\n    > Where is my refund?\n    >  I returned the lamp,   when do I get paid?\n  invoice\n"
    tree = label_tree_from_text(text)
    assert tree[0]["children"][0]["examples"] == ["Where is my refund?", "I returned the lamp,   when do I get paid?"]
    flat = label_tree_validate(tree)
    assert [(n.path, n.examples) for n in flat] == [
        ("billing", []),
        ("billing/refund", ["Where is my refund?", "I returned the lamp, when do I get paid?"]),
        ("billing/invoice", []),
    ]
    assert label_tree_from_text(label_tree_to_text(tree)) == tree
    with pytest.raises(ApplicationError) as error:
        label_tree_from_text("> an example first\nbilling")
    assert str(error.value) == "line 1: an example (a line starting with >) needs a label above it"


@pytest.mark.parametrize(("examples", "where", "message"), [
    ("x", "tree[0].examples", "examples must be a list of texts"),
    (["ok", " "], "tree[0].examples[1]", "an example must be non-empty text"),
    (["x" * 501], "tree[0].examples[0]", "longer than 500 characters"),
    (["x"] * 11, "tree[0].examples", "11 examples; the limit is 10 per label"),
])
def test_examples_are_checked(examples, where, message):
    with pytest.raises(ApplicationError) as error:
        label_tree_validate([{"name": "a", "examples": examples}])
    assert (error.value.where, error.value.message) == (where, message)

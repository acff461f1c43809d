"""Rows shared by the augmentation tests and the browser flow."""


def sft(prompt: str, answer: str) -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


TRAIN = [
    ("How can I get a refund for a wrong order?", "Open the order page and choose Refund."),
    ("What is the price of the big plan?", "The big plan costs 20 euros a month."),
    ("我怎么才能快速获得错误订单的退款？", "请在订单页面选择退款。"),
]
TEST = [("How do I delete my account?", "Go to settings and choose Delete account.")]

"""How SFT batches are laid out: which tokens the model computes on, never which tokens it learns from.

padded        TRL's default: each batch padded to its longest conversation. On varied real data about half of every
              batch is padding (alpaca_en_demo at batch 8: 52%), computed and thrown away.
padding-free  Whetstone's default: the SAME batches (same conversations per optimizer step, same order, same number of
              steps), each laid out without padding: best-fit decreasing into rows as wide as its longest conversation,
              every conversation keeping its own position ids (PaddingFreeRowsCollator).
packed        the packing option: the whole dataset packed into rows of max_length beforehand (TRL's best-fit
              decreasing), fewer and fuller rows, so a batch holds more conversations and an epoch takes fewer steps.

Why not TRL's own padding-free collation (SFTConfig padding_free=True) everywhere: it flattens the whole batch into
ONE row. That is right for flash attention, whose variable-length kernel reads the boundaries (cu_seq_lens) and
attends within each conversation. Without it (sdpa or eager: every CPU run, a GPU without flash-attn), transformers
turns the position ids into a block-diagonal mask over that one row and computes attention for every pair of tokens of
the batch: (batch x length) squared, nearly all of it masked away. So off flash attention each row stays a row; no
attention mask is passed, so transformers still builds each row's block-diagonal mask from the position ids
(masking_utils.find_packed_sequence_indices) and conversations never attend to each other.
"""


def flash_attention(model) -> bool:
    """Whether the model attends with a variable-length kernel that reads sequence boundaries (flash attention)."""
    implementation = getattr(model.config, "_attn_implementation", None) or ""
    return "flash" in implementation


class PackedRowsCollator:
    """Rows that each hold one or more whole conversations ("seq_lengths" says where each ends) → one batch, a row each.

    TRL's padding-free collation is applied to each row on its own: position ids restart at every conversation and a
    conversation's first token is no target of the one before it. The rows are then padded to the widest; the padding
    gets positions of its own (a separate "conversation" nothing attends to) and label -100, so it is never learned.
    """

    def __init__(self, pad_token_id: int):
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.row = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        rows = [self.row([example]) for example in examples]
        width = max(row["input_ids"].size(1) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        position_ids = torch.arange(width, dtype=torch.long).repeat(len(rows), 1)
        for index, row in enumerate(rows):
            length = row["input_ids"].size(1)
            input_ids[index, :length] = row["input_ids"][0]
            labels[index, :length] = row["labels"][0]
            position_ids[index, :length] = row["position_ids"][0]
            # The padding is one more sequence starting at position 0, so it never continues the last conversation.
            position_ids[index, length:] -= length
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}


def rows_best_fit(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices of `lengths` grouped into rows of at most `capacity` tokens, best-fit decreasing (each item, longest
    first, goes to the fullest row it still fits in). Precondition: every length <= capacity."""
    rows: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        fitting = [row for row, room in enumerate(free) if room >= lengths[index]]
        if fitting:
            row = min(fitting, key=lambda r: free[r])
            rows[row].append(index)
            free[row] -= lengths[index]
        else:
            rows.append([index])
            free.append(capacity - lengths[index])
    return rows


class PaddingFreeRowsCollator:
    """A batch of separate conversations, laid out without padding: best-fit decreasing into rows as wide as the
    batch's longest conversation, then collated as packed rows. The batch learns exactly what the padded batch
    learns."""

    def __init__(self, pad_token_id: int):
        self.rows = PackedRowsCollator(pad_token_id)

    def __call__(self, examples: list[dict]) -> dict:
        lengths = [len(example["input_ids"]) for example in examples]
        packed = []
        for row in rows_best_fit(lengths, max(lengths)):
            packed.append(
                {
                    "input_ids": [token for index in row for token in examples[index]["input_ids"]],
                    "labels": [
                        label for index in row for label in examples[index].get("labels", examples[index]["input_ids"])
                    ],
                    "seq_lengths": [lengths[index] for index in row],
                }
            )
        return self.rows(packed)


def trainer_batching(trainer, *, packing: bool, padding_free: bool) -> str:
    """Lay out a built SFTTrainer's batches as described above; return the layout used ("padded", "padding_free_rows",
    "packed_rows" or, on flash attention, TRL's own "flattened").

    TRL refuses a custom collator together with its padding-free packing, and refuses padding_free=True without
    packing when max_length is set, so the collator is swapped after construction (the dataset is truncated by then).
    """
    pad_token_id = trainer.data_collator.pad_token_id
    if flash_attention(trainer.model):
        if packing:
            return "flattened"  # TRL already collates packed rows padding-free for flash attention
        if padding_free:
            from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

            trainer.data_collator = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)
            return "flattened"
        return "padded"
    if packing:
        trainer.data_collator = PackedRowsCollator(pad_token_id)
        return "packed_rows"
    if padding_free:
        trainer.data_collator = PaddingFreeRowsCollator(pad_token_id)
        return "padding_free_rows"
    return "padded"

"""Models: loading (tokenizer, dtype, quantization, LoRA/full/freeze, start adapters, the
reference model), what a run or adapter folder stands for (spec), the bundled demo model and
export (merge and save). Heavy libraries are imported inside the functions that need them."""

"""Chat: the ChatEngine (one base model, adapters switched on and off, streaming), base vs
tuned side by side. The command line is core/cli/chat.py."""

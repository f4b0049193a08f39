"""Chat: the ChatEngine (one base model, adapters switched on and off, streaming), base vs
tuned side by side. sides.py says what a pick stands for and which base it needs, host.py keeps
a server's one engine loaded for its picks; the command line is core/cli/chat.py."""

"""Worker accounts in chat: `绑定 CODE` links a chat identity to the worker an invite was made for."""

"""The rules of conversations and messages. No HTTP here."""

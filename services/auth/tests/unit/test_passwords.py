"""Password hashing: argon2id, and no difference between unknown user and wrong password."""

from parley_auth.passwords import PasswordHashing


def test_hash_is_argon2id_and_verifies() -> None:
    hashing = PasswordHashing()
    hashed = hashing.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert hashing.verify(hashed, "correct horse")
    assert not hashing.verify(hashed, "wrong horse")


def test_unknown_user_never_verifies() -> None:
    assert not PasswordHashing().verify(None, "parley-dummy-password-for-timing")

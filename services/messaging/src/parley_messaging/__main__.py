"""`python -m parley_messaging` serves messaging."""

from parley_kit.app import serve
from parley_messaging.settings import MessagingSettings


def main() -> None:
    settings = MessagingSettings()
    serve("parley_messaging.main:create_app", settings, factory=True)


if __name__ == "__main__":
    main()

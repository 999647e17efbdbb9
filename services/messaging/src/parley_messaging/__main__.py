"""`python -m parley_messaging` serves messaging."""

from parley_kit.app import serve
from parley_messaging.main import create_app
from parley_messaging.settings import MessagingSettings


def main() -> None:
    settings = MessagingSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()

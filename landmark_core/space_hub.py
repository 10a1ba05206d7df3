"""Publishing a Space bundle (landmark_core/space_bundle.py) to the Hugging Face Hub: the Space id and the token
checked before anything is built, then the Space created if needed and given the bundle's files in one commit.
Every failure is a one-line message; without a network it comes in seconds.

Kept apart from the bundle, which loads torch and gradio: a deploy without a token says so at once.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
from huggingface_hub import HfApi, get_token, set_client_factory
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id
from huggingface_hub.utils._http import default_client_factory

SPACE_SDK = "gradio"
# huggingface_hub waits forever by default: without a network a deploy must fail in seconds, while one slow
# upload of a model part may still take its time.
HUB_TIMEOUT = httpx2.Timeout(60.0, connect=5.0)


class PublishError(RuntimeError):
    """The bundle can't be (or was not) published; the message says why and what to do."""


def check_space_id(space: str) -> None:
    """OWNER/NAME as the Hub accepts it; anything else stops before the build."""
    try:
        validate_repo_id(space)
    except HFValidationError as error:
        raise PublishError(f"--space {space!r} is not a valid Space id: {error}") from None
    if space.count("/") != 1:
        raise PublishError(f"--space {space!r} must be OWNER/NAME, e.g. your-user-name/landmark-lens.")


def hub_token() -> str:
    """HF_TOKEN, else the token `hf auth login` (formerly `huggingface-cli login`) saved."""
    token = get_token()
    if not token:
        raise PublishError(
            "No Hugging Face token: set HF_TOKEN to a token with write access "
            "(https://huggingface.co/settings/tokens) or run `hf auth login`, then run the command again."
        )
    return token


def client_with_timeout() -> httpx2.Client:
    # The hub's own client (its offline-mode check and request ids), with a timeout.
    client = default_client_factory()
    client.timeout = HUB_TIMEOUT
    return client


def publish(folder: Path, space: str, *, private: bool, token: str) -> str:
    """Create the Space if needed and make its files exactly those in `folder`, in one commit; return its address."""
    set_client_factory(client_with_timeout)
    api = HfApi(token=token)
    try:
        url = api.create_repo(space, repo_type="space", space_sdk=SPACE_SDK, exist_ok=True, private=private)
        # One commit: the Space changes all at once or not at all. delete_patterns drops what an older bundle had.
        api.upload_folder(
            repo_id=space,
            repo_type="space",
            folder_path=folder,
            commit_message="Deploy Landmark Lens (scripts/deploy_space.py)",
            delete_patterns="*",
        )
    except (httpx2.TransportError, ConnectionError) as error:  # ConnectionError: HF_HUB_OFFLINE is set
        raise PublishError(
            f"Can't reach the Hugging Face Hub at {api.endpoint} ({type(error).__name__}: {error}). "
            "Check the network (or HF_ENDPOINT) and run the command again; the Space was not changed."
        ) from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        hint = " The token is invalid or lacks write access to that owner." if status in (401, 403) else ""
        reason = str(error).splitlines()[0]
        raise PublishError(f"The Hub refused the upload to {space} (HTTP {status}: {reason}).{hint} The Space was not changed.") from None
    return str(url)

"""The container image runs the commands the README documents (no container engine needed)."""
import json
import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def commands(arguments: str) -> list[list[str]]:
    """A RUN/CMD's commands: exec form (JSON) or shell form split on &&."""
    if arguments.startswith("["):
        return [json.loads(arguments)]
    return [shlex.split(part) for part in arguments.split("&&")]


def readme_commands() -> set[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    found = set()
    for block in blocks:
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            for part in line.split("&&"):
                words = [w for w in shlex.split(part) if "=" not in w.split("/")[0]]  # drop VAR=value
                if words:
                    found.add(" ".join(words))
    return found


def test_the_image_installs_with_the_readme_s_install_commands():
    documented = readme_commands()
    installs = [" ".join(w for w in command if "=" not in w.split("/")[0])
                for instruction, arguments in dockerfile_instructions() if instruction == "RUN"
                for command in commands(arguments) if "scripts/install.sh" in " ".join(command)]
    assert installs == ["bash scripts/install.sh", "bash scripts/install.sh --serve"]
    assert set(installs) <= documented


def test_the_image_builds_its_index_and_serves_with_real_command_lines():
    from scripts.serve import parse_args as serve_args

    instructions = dockerfile_instructions()
    build = [c for i, a in instructions if i == "RUN" for c in commands(a) if c[0].endswith("search-demo")]
    assert build and build[0][1:] == ["--no-serve", "--index", "/app/index"]  # flags: the next test
    served = [commands(a)[0] for i, a in instructions if i == "CMD"]
    assert len(served) == 1 and served[0][0] == "/app/.venv/bin/search-serve"
    args = serve_args(served[0][1:])
    assert (args.index, args.host, args.port) == ("/app/index", "0.0.0.0", 8000)
    health = next(a for i, a in instructions if i == "HEALTHCHECK")
    assert "http://127.0.0.1:8000/health" in health
    assert ("USER", "search") in instructions  # not root
    assert sum(1 for i, _ in instructions if i == "FROM") == 2  # build stage, then the serving one


def test_demo_help_names_the_flags_the_image_uses(capsys):
    from scripts import demo

    with pytest.raises(SystemExit):
        demo.main(["--help"])
    text = capsys.readouterr().out
    assert "--no-serve" in text and "--index" in text


def test_compose_builds_this_image_and_reuses_the_elasticsearch_service():
    compose = (REPO / "compose.yaml").read_text()
    assert re.search(r"^\s+build: \.$", compose, re.M)
    assert "file: docker-compose.elasticsearch.yml" in compose and "service: elasticsearch" in compose
    assert re.search(r"^  elasticsearch:$", (REPO / "docker-compose.elasticsearch.yml").read_text(), re.M)
    assert "docker compose --profile elasticsearch up -d" in (REPO / "README.md").read_text()

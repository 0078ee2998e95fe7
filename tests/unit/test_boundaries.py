"""The architecture's import rules, checked on the source so a violation fails CI."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotline", "ivr", "dialer", "telephony", "simulator", "desk", "prompts")

# Web modules: the only ones that may import flask.
WEB_MODULES = {"hotline/web.py", "hotline/cli.py"}
WEB_PREFIXES = ("ivr/web", "desk/", "simulator/web")
# Pure domain modules: no web, telephony SDK, database session or clock.
PURE_MODULES = {
    "hotline/money.py",
    "hotline/phones.py",
    "hotline/redact.py",
    "hotline/tiers.py",
    "hotline/csvrows.py",
    "ivr/flow.py",
    "dialer/policy.py",
}
IMPURE_FOR_DOMAIN = ("flask", "twilio", "sqlalchemy", "requests", "hotline.db", "hotline.models")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), imports_of(path)


def test_only_web_modules_import_flask():
    offenders = [
        name
        for name, imported in sources()
        if any(i == "flask" or i.startswith("flask.") for i in imported)
        and name not in WEB_MODULES
        and not name.startswith(WEB_PREFIXES)
    ]
    assert offenders == []


def test_only_the_telephony_adapter_imports_the_twilio_rest_client():
    offenders = [
        name
        for name, imported in sources()
        if any(i.startswith("twilio.rest") or i.startswith("twilio.http") for i in imported)
        and not name.startswith("telephony/")
    ]
    assert offenders == []


def test_domain_rules_import_no_infrastructure():
    offenders = {
        name: sorted(i for i in imported if i.startswith(IMPURE_FOR_DOMAIN))
        for name, imported in sources()
        if name in PURE_MODULES
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}

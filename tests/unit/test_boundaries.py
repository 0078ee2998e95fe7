"""The architecture's import rules, checked on the source so a violation fails CI."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotline", "ivr", "flows", "dialer", "telephony", "simulator", "desk", "prompts")
# The lines: only the app factory and the CLI wire them in.
LINES = ("ivr", "dialer", "desk")

# Web modules: the only ones that may import flask.
WEB_MODULES = {"hotline/web.py", "hotline/cli.py"}
WEB_PREFIXES = ("ivr/web", "dialer/web", "desk/", "simulator/web", "telephony/webhook")
# Pure domain modules: no web, telephony SDK, database session or clock.
PURE_MODULES = {
    "hotline/money.py",
    "hotline/phones.py",
    "hotline/redact.py",
    "hotline/tiers.py",
    "hotline/csvrows.py",
    "hotline/placement_rows.py",
    "hotline/enums.py",
    "hotline/rules.py",
    "hotline/origin.py",
    "prompts/speech.py",
    "prompts/spoken.py",
    "ivr/flow.py",
    "dialer/policy.py",
    "simulator/amd.py",
    "dialer/campaigns.py",
    "dialer/campaign_file.py",
    "dialer/campaign_values.py",
    "dialer/toml_lines.py",
    "dialer/history.py",
    "dialer/schedule.py",
    "dialer/pacing.py",
    "dialer/retry.py",
    "dialer/flow.py",
    "dialer/urls.py",
    "dialer/texts.py",
    "dialer/text_rules.py",
    "dialer/lifecycle_rules.py",
    "hotline/paymentrows.py",
} | {
    # Every call flow both lines speak, but the module that carries their effects out.
    f"flows/{path.name}"
    for path in (ROOT / "flows").glob("*.py")
    if path.name != "carry_out.py"
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


def test_only_the_dialer_process_imports_the_scheduler():
    # The jobs stay plain functions a simulation drives on a virtual clock.
    offenders = [
        name
        for name, imported in sources()
        if any(i.split(".")[0] == "apscheduler" for i in imported) and name != "dialer/process.py"
    ]
    assert offenders == []


def test_domain_rules_import_no_infrastructure():
    offenders = {
        name: sorted(i for i in imported if i.startswith(IMPURE_FOR_DOMAIN))
        for name, imported in sources()
        if name in PURE_MODULES
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_lines_never_import_each_other():
    offenders = [
        (name, i)
        for name, imported in sources()
        for line in LINES
        if name.startswith(f"{line}/")
        for other in LINES
        if other != line
        for i in imported
        if i == other or i.startswith(f"{other}.")
    ]
    assert offenders == []


def test_product_code_never_imports_the_simulator():
    offenders = [
        name
        for name, imported in sources()
        if not name.startswith("simulator/")
        and name != "hotline/cli.py"  # mounts `hotline simulator` and `hotline call`
        and any(i == "simulator" or i.startswith("simulator.") for i in imported)
    ]
    assert offenders == []


def test_only_the_app_factory_and_the_cli_import_the_lines():
    wiring = {"hotline/web.py", "hotline/cli.py"}
    offenders = [
        (name, i)
        for name, imported in sources()
        if name not in wiring and not name.startswith(LINES) and not name.startswith("simulator/")
        for i in imported
        if i.split(".")[0] in LINES
    ]
    assert offenders == []


def test_shared_code_depends_on_no_line():
    """hotline/, flows/, telephony/ and prompts/ serve every line, so they name none."""
    shared = ("hotline/", "flows/", "telephony/", "prompts/")
    offenders = [
        (name, i)
        for name, imported in sources()
        if name.startswith(shared) and name not in {"hotline/web.py", "hotline/cli.py"}
        for i in imported
        if i.split(".")[0] in LINES
    ]
    assert offenders == []

"""Settings documented in .env.example are read from the environment."""

import os
import subprocess
import sys
import tempfile


def settings_value(name: str, **environment) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.pop("DATABASE_URL", None)
    var_dir = tempfile.mkdtemp(prefix="rapport-settings-")
    env.update(environment, DJANGO_SETTINGS_MODULE="rapport.settings", RAPPORT_VAR_DIR=var_dir)
    code = f"from django.conf import settings; print(settings.{name})"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_currency_and_web_form_rate_come_from_the_environment():
    assert settings_value("RAPPORT_CURRENCY", RAPPORT_CURRENCY="gbp").stdout.strip() == "GBP"
    assert settings_value("RAPPORT_CURRENCY").stdout.strip() == "EUR"
    rate = settings_value("RAPPORT_WEBFORM_IP_RATE", RAPPORT_WEBFORM_IP_RATE="7")
    assert rate.stdout.strip() == "7"


def test_a_currency_that_is_no_code_is_refused_with_the_reason():
    result = settings_value("RAPPORT_CURRENCY", RAPPORT_CURRENCY="euro")
    assert result.returncode != 0
    assert "RAPPORT_CURRENCY='EURO' is not a currency code" in result.stderr

"""Realistic, deterministic inventories of any size, for the example data, benchmarks and tests.

The organisations are fictional; domains are under the reserved ``.example``
top-level domain (RFC 2606). The same seed always gives the same files.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KINDS = ("Comité", "Coopérative", "Centre", "Association", "Collectif", "Maison",
         "Regroupement", "Table de concertation", "Journal", "Radio communautaire",
         "Carrefour", "Fédération")
TOPICS = ("du logement", "des femmes", "des jeunes", "des aînés", "en environnement",
          "en alimentation", "des locataires", "d'éducation populaire", "des travailleuses",
          "pour la paix", "des personnes immigrantes", "en santé mentale", "culturel",
          "du transport collectif", "en justice sociale", "des parents")
PLACES = ("Hochelaga", "Rosemont", "Villeray", "Saint-Henri", "Verdun", "Plateau",
          "Parc-Extension", "Limoilou", "Sherbrooke", "Pointe-Saint-Charles", "Gatineau",
          "Rimouski", "Montréal-Nord", "Saint-Michel", "Côte-des-Neiges", "Trois-Rivières")
FIRST = ("Léa", "Marc", "Sophie", "Nadia", "Félix", "Julie", "Diego", "Antoine", "Amina",
         "Mathieu", "Chloé", "Karim", "Élise", "Samuel", "Inès", "Louis")
LAST = ("Gagnon", "Roy", "Côté", "Bouchard", "Morin", "Lavoie", "Girard", "Tremblay",
        "Pelletier", "Bélanger", "Nguyen", "Haddad", "Hernández", "Fortin", "Ouellet")

PLANS: list[dict[str, Any]] = [
    {"name": "essentiel", "label_fr": "Essentiel", "label_en": "Essential",
     "monthly_price_cad": "25.00", "disk_quota_gib": 5, "php_workers": 4,
     "cpu_cores_reserved": "0.10", "backups_kept_daily": 7},
    {"name": "standard", "label_fr": "Standard", "label_en": "Standard",
     "monthly_price_cad": "45.00", "disk_quota_gib": 10, "php_workers": 6,
     "cpu_cores_reserved": "0.20", "backups_kept_daily": 14},
    {"name": "organisme", "label_fr": "Organisme", "label_en": "Organisation",
     "monthly_price_cad": "85.00", "disk_quota_gib": 20, "php_workers": 10,
     "php_memory_limit_mib": 384, "cpu_cores_reserved": "0.40", "backups_kept_daily": 30},
]


@dataclass(frozen=True)
class Shape:
    """How big a generated inventory is."""

    clients: int
    sites: int
    web_servers: int
    seed: int = 2026


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def generate(shape: Shape) -> dict[str, Any]:
    """The files of an inventory as data: {'servers.yaml': ..., 'clients/x.yaml': ...}."""
    rng = random.Random(shape.seed)  # noqa: S311 -- reproducible sample data, not secrets
    web = [f"web{i + 1}" for i in range(shape.web_servers)]
    disk = max(500, 40 * shape.sites // max(1, shape.web_servers))
    servers = [
        {"name": name, "address": f"192.0.2.{10 + i}", "roles": ["web", "db"],
         "size": {"cpus": 8, "memory_gib": 32, "disk_gib": disk},
         "cost": ({"monthly_cad": "180.00"} if i % 2 == 0 else
                  {"purchase_cad": "7200.00", "amortisation_months": 60,
                   "hosting_monthly_cad": "60.00"})}
        for i, name in enumerate(web)
    ]
    servers += [
        {"name": "backup1", "address": "192.0.2.200", "roles": ["backup"],
         "size": {"cpus": 4, "memory_gib": 8, "disk_gib": 8000}, "cost": {"monthly_cad": "90.00"}},
        {"name": "mon1", "address": "192.0.2.210", "roles": ["monitor"],
         "size": {"cpus": 2, "memory_gib": 4, "disk_gib": 200}, "cost": {"monthly_cad": "25.00"}},
    ]
    files: dict[str, Any] = {
        "servers.yaml": {
            "settings": {"admin_email": "infra@koumbit.example",
                         "ssh_user": "root"},
            "admins": [{"name": "camille", "full_name": "Camille Tremblay", "ssh_keys": [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICRqnvZA1x5XzknoC+YbTV0MkLB8+zgraS2XFDgf9Ryk"
                " camille@koumbit"]}],
            "servers": servers,
        },
        "plans.yaml": {"plans": PLANS},
        "budget.yaml": {"budget": {
            "fiscal_year": "2026-2027", "start_month": 4,
            "allocated_cad": str(60 * shape.sites + 20000) + ".00",
            "shared_policy": "by_reserved",
            "lines": [
                {"name": "Stockage des sauvegardes hors site", "name_en": "Off-site backup storage",
                 "category": "backup_storage", "monthly_cad": "120.00"},
                {"name": "Transit", "name_en": "Transit", "category": "transit",
                 "monthly_cad": "250.00"},
                {"name": "Noms de domaine et DNS", "name_en": "Domain names and DNS",
                 "category": "domains", "yearly_cad": "1800.00"},
                {"name": "Logiciels", "name_en": "Software", "category": "software",
                 "yearly_cad": "600.00"},
                {"name": "Heures de l'équipe Infra", "name_en": "Infra team hours",
                 "category": "staff_hours", "hours_per_month": "60", "hourly_rate_cad": "32.50"},
            ]}},
    }
    per_client = _spread(shape.sites, shape.clients, rng)
    used: set[str] = set()
    for n, count in enumerate(per_client):
        name = _org_name(rng, n)
        slug = _unique(slugify(name)[:40].strip("-"), used)
        plan = rng.choices(PLANS, weights=(5, 3, 2))[0]
        solidarity = rng.random() < 0.25
        list_price = plan["monthly_price_cad"]
        paid = (f"{rng.choice((0, 5, 10, 15))}.00" if solidarity
                else list_price if rng.random() < 0.8 else f"{int(float(list_price)) - 5}.00")
        client: dict[str, Any] = {
            "slug": slug, "name": name, "plan": plan["name"], "monthly_price_paid_cad": paid,
            "member": rng.random() < 0.3,
            "contact": {"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                        "email": f"info@{slug}.example"},
            "sites": [],
        }
        if solidarity:
            client["solidarity"] = {"since": f"20{rng.randint(18, 26)}-{rng.randint(1, 12):02d}-01"}
        for k in range(count):
            domain = f"{slug}.example" if k == 0 else f"site{k + 1}.{slug}.example"
            site: dict[str, Any] = {"domain": domain,
                                    "cms": rng.choice(("wordpress", "wordpress", "drupal")),
                                    "server": web[(n + k) % len(web)]}
            if k == 0 and rng.random() < 0.5:
                site["aliases"] = [f"www.{domain}"]
            if rng.random() < 0.05:
                site["state"] = "disabled"
            client["sites"].append(site)
        files[f"clients/{slug}.yaml"] = client
    return files


def write(shape: Shape, root: Path) -> Path:
    """Write a generated inventory under ``root`` (created); returns ``root``."""
    (root / "clients").mkdir(parents=True, exist_ok=True)
    for rel, data in generate(shape).items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _spread(sites: int, clients: int, rng: random.Random) -> list[int]:
    counts = [1] * clients
    for _ in range(sites - clients):
        counts[rng.randrange(clients)] += 1
    return counts


def _org_name(rng: random.Random, n: int) -> str:
    name = f"{rng.choice(KINDS)} {rng.choice(TOPICS)} de {rng.choice(PLACES)}"
    return name if n < 40 else f"{name} ({n})"


def _unique(slug: str, used: set[str]) -> str:
    candidate, i = slug, 2
    while candidate in used:
        candidate = f"{slug}-{i}"
        i += 1
    used.add(candidate)
    return candidate

"""A scenario for next year's budget: clients, accounts, prices and servers that change.

Written in YAML and validated like the inventory: every problem at once, as
``file:line: what is wrong; what to do``, before anything is computed.

    name: Trois comptes solidaires de plus
    add_clients:
      - {count: 3, plan: essentiel, solidarity: true, monthly_price_paid_cad: "0.00",
         since: 2027-04-01, server: web1}
    remove_clients: [{client: theatre-quartier, since: 2027-09-01}]
    plan_prices: [{plan: standard, monthly_price_cad: "50.00", since: 2027-04-01}]
    add_servers: [{offer: web-loue, since: 2027-06-01}]
    retire_servers: [{server: web1, since: 2028-01-01}]
    line_changes: [{line: Transit et bande passante, since: 2027-04-01, monthly_cad: "40.00"}]
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field, ValidationError

from koumbit_infra.inventory import Inventory, InventoryError, Problem, Role
from koumbit_infra.inventory.fields import Day, Name, Slug, Title
from koumbit_infra.inventory.models import LineChange, _Model
from koumbit_infra.inventory.money import Cad
from koumbit_infra.inventory.pydantic_problems import problems_from
from koumbit_infra.inventory.text import escaped
from koumbit_infra.inventory.yamlsource import YamlDocument, YamlSyntaxError, load_yaml


class NewClients(_Model):
    """Clients the year would bring, alike: how many, their plan and price, from when."""

    count: int = Field(gt=0, le=100_000, description="How many clients.")
    plan: Name = Field(description="Their plan, from plans.yaml.")
    solidarity: bool = Field(False, description="Solidarity accounts (comptes solidaires).")
    monthly_price_paid_cad: Cad | None = Field(
        None, description="Price each pays, CAD/month (default: the plan's list price).")
    since: Day = Field(description="First day they are hosted.")
    server: Name = Field(description="Web server their sites go on.")
    sites_each: int = Field(1, gt=0, le=100, description="Sites per client.")


class ClientRemoval(_Model):
    client: Slug = Field(description="The client's slug.")
    # "since", not "on": YAML 1.1 reads a key `on` as true.
    since: Day = Field(description="First day it is no longer hosted.")


class PlanPrice(_Model):
    plan: Name = Field(description="The plan, from plans.yaml.")
    monthly_price_cad: Cad = Field(description="Its new list price, CAD/month.")
    since: Day = Field(description="First day of the new price.")


class NewServer(_Model):
    offer: Name = Field(description="An offer of budget.yaml's catalogue.")
    since: Day = Field(description="First day in service.")


class ServerRetirement(_Model):
    server: Name = Field(description="A server of servers.yaml.")
    since: Day = Field(description="First day out of service.")


class Scenario(_Model):
    """What may change next year; every part is optional."""

    name: Title = Field("", description="What the scenario is, in a few words.")
    add_clients: tuple[NewClients, ...] = ()
    remove_clients: tuple[ClientRemoval, ...] = ()
    plan_prices: tuple[PlanPrice, ...] = ()
    add_servers: tuple[NewServer, ...] = ()
    retire_servers: tuple[ServerRetirement, ...] = ()
    line_changes: tuple[LineChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.add_clients or self.remove_clients or self.plan_prices
                    or self.add_servers or self.retire_servers or self.line_changes)


NO_CHANGE = Scenario()


def load_scenario(path: Path, inv: Inventory, first: date, end: date) -> Scenario:
    """The scenario at ``path``, checked against ``inv`` and the year [first, end);
    InventoryError with every problem otherwise (nothing written: exit 2)."""
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        raise _invalid(path, [exc.problem]) from None
    if not isinstance(doc.data, dict):
        raise _invalid(path, [Problem(path, 1, "scenario is empty or not a mapping of keys",
                                      "write the keys a scenario takes (see the README)")])
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        raise _invalid(path, problems_from(exc, doc, Scenario)) from None
    problems = scenario_problems(scenario, doc, inv, first, end)
    if problems:
        raise _invalid(path, problems)
    return scenario


def _invalid(path: Path, problems: list[Problem]) -> InventoryError:
    return InventoryError(problems, f"scenario '{escaped(str(path))}'", "nothing was written")


def scenario_problems(
    scenario: Scenario, doc: YamlDocument, inv: Inventory, first: date, end: date
) -> list[Problem]:
    """What the scenario names that the inventory lacks, and dates outside the year."""
    check = _Checker(doc, first, end)
    check.clients(scenario, inv)
    check.costs(scenario, inv)
    return check.out


class _Checker:
    def __init__(self, doc: YamlDocument, first: date, end: date) -> None:
        self.doc, self.first, self.end = doc, first, end
        self.out: list[Problem] = []

    def bad(self, loc: tuple[str | int, ...], what: str, hint: str) -> None:
        self.out.append(Problem(self.doc.path, self.doc.line_of(loc), what, hint))

    def in_year(self, loc: tuple[str | int, ...], day: date) -> None:
        if not self.first <= day < self.end:
            self.bad(loc, f"{loc[-1]} {day} is outside the fiscal year",
                     f"give a day from {self.first} to {self.end} (exclusive)")

    def clients(self, scenario: Scenario, inv: Inventory) -> None:
        plans = {p.name: p for p in inv.plans}
        web = sorted(s.name for s in inv.servers_with(Role.WEB))
        clients = {c.slug for c in inv.clients}
        for i, add in enumerate(scenario.add_clients):
            if add.plan not in plans:
                self.bad(("add_clients", i, "plan"), f"unknown plan '{add.plan}'",
                         "use one of: " + ", ".join(sorted(plans)))
            elif (add.solidarity and add.monthly_price_paid_cad is not None
                  and add.monthly_price_paid_cad > plans[add.plan].monthly_price_cad):
                self.bad(("add_clients", i, "monthly_price_paid_cad"),
                         "a solidarity account paying more than the list price",
                         "lower the price, or make them regular clients")
            if add.server not in web:
                self.bad(("add_clients", i, "server"), f"'{add.server}' is not a web server",
                         "use one of: " + ", ".join(web))
            self.in_year(("add_clients", i, "since"), add.since)
        for i, gone in enumerate(scenario.remove_clients):
            if gone.client not in clients:
                self.bad(("remove_clients", i, "client"), f"unknown client '{gone.client}'",
                         "use the slug of a file in clients/")
            self.in_year(("remove_clients", i, "since"), gone.since)
        for i, price in enumerate(scenario.plan_prices):
            if price.plan not in plans:
                self.bad(("plan_prices", i, "plan"), f"unknown plan '{price.plan}'",
                         "use one of: " + ", ".join(sorted(plans)))
            self.in_year(("plan_prices", i, "since"), price.since)

    def costs(self, scenario: Scenario, inv: Inventory) -> None:
        servers = sorted(s.name for s in inv.servers)
        offers = sorted(o.name for o in inv.catalogue)
        lines = {b.name: b for b in inv.budget.lines}
        for i, new in enumerate(scenario.add_servers):
            if new.offer not in offers:
                self.bad(("add_servers", i, "offer"), f"unknown offer '{new.offer}'",
                         "use one of budget.yaml's catalogue: " + (", ".join(offers)
                                                                   or "(empty)"))
            self.in_year(("add_servers", i, "since"), new.since)
        for i, old in enumerate(scenario.retire_servers):
            if old.server not in servers:
                self.bad(("retire_servers", i, "server"), f"unknown server '{old.server}'",
                         "use one of: " + ", ".join(servers))
            self.in_year(("retire_servers", i, "since"), old.since)
        for i, change in enumerate(scenario.line_changes):
            target = lines.get(change.line)
            if target is None:
                self.bad(("line_changes", i, "line"), f"unknown budget line '{change.line}'",
                         "use one of: " + ", ".join(sorted(lines)))
            elif (change.hours_per_month is not None or change.hourly_rate_cad is not None) \
                    != (target.hours_per_month is not None):
                self.bad(("line_changes", i, "line"), f"'{change.line}' takes "
                         + ("hours_per_month or hourly_rate_cad"
                            if target.hours_per_month is not None
                            else "monthly_cad or yearly_cad"),
                         "give the amount this line is made of")
            self.in_year(("line_changes", i, "since"), change.since)

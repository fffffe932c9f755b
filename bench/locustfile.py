"""The enrolment morning as Locust users (run by bench/morning.py, never imported by the tests:
locust monkey-patches the standard library with gevent on import).

Every simulated person is a distinct member of staff from the generated data set, signs in once
with their own password and then repeats what they came for, with a few seconds between steps:
- employees (most): the catalog → a search → a course page → enrol with the page's CSRF token →
  My learning;
- managers (unit heads): the team page;
- HR: the dashboard.
The users are FastHttpUsers (geventhttpclient): the load generator shares the 2 cores with the
server, and python-requests' client cost several times more CPU per request.
Logins come from the JSON file named by MANABI_BENCH_LOGINS ({"employee": [...], "manager": [...],
"hr": [...]}); each role's list is handed out in order, so no two users share a person.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
from typing import Any

from locust import FastHttpUser, between, task

_LOGINS: dict[str, list[str]] = json.loads(open(os.environ["MANABI_BENCH_LOGINS"], encoding="utf-8").read())
_PASSWORD = os.environ["MANABI_BENCH_PASSWORD"]
_NEXT = {role: itertools.count() for role in _LOGINS}
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_COURSE = re.compile(r'href="/catalog/courses/([^"?#]+)"')
_ENROL = re.compile(r'action="(/sessions/\d+/enrol)"')
SEARCHES = ("データ", "DX", "ＤＸ", "RPA", "セキュリティ", "AI", "研修", "課長")


# MANABI_BENCH_THINK=0 removes the pauses: the saturated run that measures capacity.
_THINK = float(os.environ.get("MANABI_BENCH_THINK", "1"))


class Person(FastHttpUser):
    abstract = True
    role = "employee"
    wait_time = between(1 * _THINK, 4 * _THINK)

    def on_start(self) -> None:
        logins = _LOGINS[self.role]
        login = logins[next(_NEXT[self.role]) % len(logins)]
        page = self.client.get("/login", name="/login").text
        token = _token(page)
        self.client.post("/login", {"login": login, "password": _PASSWORD, "csrf_token": token},
                         name="/login [POST]", allow_redirects=False)


def _token(page: str) -> str:
    found = _TOKEN.search(page)
    return found.group(1) if found else ""


class Employee(Person):
    weight = 90
    role = "employee"

    @task
    def morning(self) -> None:
        catalog = self.client.get("/catalog/", name="/catalog/").text
        found = self.client.get("/catalog/", params={"q": random.choice(SEARCHES)}, name="/catalog/?q=").text
        codes = _COURSE.findall(found) or _COURSE.findall(catalog)
        if codes:
            course = self.client.get(f"/catalog/courses/{random.choice(codes)}", name="/catalog/courses/<code>")
            enrol = _ENROL.search(course.text)
            if enrol:
                self.client.post(enrol.group(1), {"csrf_token": _token(course.text), "next": "/my-learning"},
                                 name="/sessions/<id>/enrol [POST]", allow_redirects=False)
        self.client.get("/my-learning", name="/my-learning")


class Manager(Person):
    weight = 8
    role = "manager"

    @task
    def team(self) -> None:
        self.client.get("/team", name="/team")


class HR(Person):
    weight = 2
    role = "hr"
    wait_time = between(5 * _THINK, 15 * _THINK)

    @task
    def dashboard(self) -> None:
        self.client.get("/reports/dashboard", params={"fy": "2026"}, name="/reports/dashboard")


__all__: list[Any] = [Employee, Manager, HR]

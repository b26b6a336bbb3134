"""Names of the dependencies handlers receive, marked for Litestar's name-based injection."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.practice.models import Practice, StaffUser
from scheduler.settings import Settings

DbSession: TypeAlias = NamedDependency[AsyncSession]
CurrentStaff: TypeAlias = NamedDependency[StaffUser]
PathPractice: TypeAlias = NamedDependency[Practice]
AppSettings: TypeAlias = NamedDependency[Settings]

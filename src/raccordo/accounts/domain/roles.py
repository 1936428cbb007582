"""Roles and what each may do. Higher roles include everything lower roles may do."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Permission(enum.StrEnum):
    READ = "read"  # contacts, conversations, teams, inboxes (without secrets)
    WORK = "work"  # reply, note, change own conversations, edit contacts
    ASSIGN_OTHERS = "assign_others"
    MERGE_CONTACTS = "merge_contacts"
    MANAGE_INBOXES = "manage_inboxes"
    MANAGE_TEAMS = "manage_teams"
    MANAGE_USERS = "manage_users"
    READ_AUDIT = "read_audit"
    EXPORT = "export"
    MANAGE_ROUTING = "manage_routing"  # queues, skills, rules, agents' skills and capacity
    VIEW_LIVE = "view_live"  # the live queue view
    MANAGE_CONTENT = "manage_content"  # answer templates, wrap-up codes


MINIMUM_ROLE: dict[Permission, Role] = {
    Permission.READ: Role.AGENT,
    Permission.WORK: Role.AGENT,
    Permission.ASSIGN_OTHERS: Role.SUPERVISOR,
    Permission.MERGE_CONTACTS: Role.SUPERVISOR,
    Permission.MANAGE_TEAMS: Role.ADMIN,
    Permission.MANAGE_INBOXES: Role.ADMIN,
    Permission.MANAGE_USERS: Role.ADMIN,
    Permission.READ_AUDIT: Role.ADMIN,
    Permission.EXPORT: Role.ADMIN,
    Permission.MANAGE_ROUTING: Role.ADMIN,
    Permission.VIEW_LIVE: Role.SUPERVISOR,
    Permission.MANAGE_CONTENT: Role.ADMIN,
}


def can(role: Role, permission: Permission) -> bool:
    return role.at_least(MINIMUM_ROLE[permission])


def can_grant(actor: Role, target: Role) -> bool:
    """Only an owner makes owners; admins manage everyone below owner."""
    return actor is Role.OWNER or (actor.at_least(Role.ADMIN) and not target.at_least(Role.OWNER))

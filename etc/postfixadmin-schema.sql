-- PostfixAdmin's tables as Posthorn's lookup tables use them (domain, alias,
-- mailbox), for the SQLite database of the shipped default configuration.
-- Column names and meanings follow PostfixAdmin; types are SQLite's.
CREATE TABLE IF NOT EXISTS domain (
    domain      TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    aliases     INTEGER NOT NULL DEFAULT 0,
    mailboxes   INTEGER NOT NULL DEFAULT 0,
    maxquota    INTEGER NOT NULL DEFAULT 0,
    quota       INTEGER NOT NULL DEFAULT 0,
    transport   TEXT NOT NULL DEFAULT '',
    backupmx    INTEGER NOT NULL DEFAULT 0,
    created     TEXT NOT NULL DEFAULT '2000-01-01 00:00:00',
    modified    TEXT NOT NULL DEFAULT '2000-01-01 00:00:00',
    active      INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS alias (
    address  TEXT PRIMARY KEY NOT NULL,
    goto     TEXT NOT NULL,
    domain   TEXT NOT NULL DEFAULT '',
    created  TEXT NOT NULL DEFAULT '2000-01-01 00:00:00',
    modified TEXT NOT NULL DEFAULT '2000-01-01 00:00:00',
    active   INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS mailbox (
    username   TEXT PRIMARY KEY NOT NULL,
    password   TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    maildir    TEXT NOT NULL DEFAULT '',
    quota      INTEGER NOT NULL DEFAULT 0,
    local_part TEXT NOT NULL DEFAULT '',
    domain     TEXT NOT NULL DEFAULT '',
    created    TEXT NOT NULL DEFAULT '2000-01-01 00:00:00',
    modified   TEXT NOT NULL DEFAULT '2000-01-01 00:00:00',
    active     INTEGER NOT NULL DEFAULT 1
);
-- One example domain with one mailbox and one alias, so that a fresh
-- instance accepts mail for something.
INSERT OR IGNORE INTO domain (domain, description) VALUES ('example.test', 'example domain');
INSERT OR IGNORE INTO mailbox (username, name, maildir, quota, local_part, domain)
    VALUES ('user@example.test', 'Example User', 'example.test/user/', 0, 'user', 'example.test');
INSERT OR IGNORE INTO alias (address, goto, domain) VALUES ('user@example.test', 'user@example.test', 'example.test');
INSERT OR IGNORE INTO alias (address, goto, domain) VALUES ('postmaster@example.test', 'user@example.test', 'example.test');

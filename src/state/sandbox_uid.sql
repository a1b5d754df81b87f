-- Schema version 2: the host uid (and gid) a sandbox's commands run as when
-- sandbox-tui runs as root; NULL without one (no root, or a sandbox made
-- before this version, whose commands keep running as uid 0 without
-- capabilities). Unique, so two sandboxes never share their per-uid kernel
-- quotas (inotify, queued signals, message queues).

ALTER TABLE sandboxes ADD COLUMN uid INTEGER;
CREATE UNIQUE INDEX sandboxes_uid ON sandboxes (uid);

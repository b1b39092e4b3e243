-- 0010_auditor (PostgreSQL): invitation links may grant the auditor role.
-- See migrations/0010_auditor.sql.
ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_role_check;
ALTER TABLE user_tokens ADD CONSTRAINT user_tokens_role_check CHECK (role IN ('', 'admin', 'auditor', 'member'));

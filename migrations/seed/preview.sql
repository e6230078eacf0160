-- Synthetic data for the previews' Neon seed branch (scripts/preview-seed.sh applies it after the
-- migrations). Made-up people only, at a reserved domain (.invalid), none with a Google identity:
-- a preview is reachable by anyone with its URL and its access code, so it must never hold a real
-- person's data. Re-runnable: a second run changes nothing.
INSERT INTO users (id, email, name) VALUES
    ('00000000-0000-4000-8000-000000000001', 'ada@preview.redub.invalid', 'Ada Preview'),
    ('00000000-0000-4000-8000-000000000002', 'ben@preview.redub.invalid', 'Ben Preview'),
    ('00000000-0000-4000-8000-000000000003', 'chidi@preview.redub.invalid', 'Chidi Preview')
ON CONFLICT DO NOTHING;

-- The package's content; DataKit ships it as is.
select user_id, event_type, occurred_at
from events
where occurred_at > now() - interval '1 day';

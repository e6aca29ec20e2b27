DROP TABLE IF EXISTS dead_letters;
DROP TABLE IF EXISTS processed_events;
DROP TABLE IF EXISTS transition_audit;
DROP TABLE IF EXISTS aggregates;

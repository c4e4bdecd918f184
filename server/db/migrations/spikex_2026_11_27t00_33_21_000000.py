from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-27T00:33:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "component library: full-text search, one row per version"

# Full-text search over a component's names, summary, tags and description, kept up to date
# by a trigger (piccolo has no tsvector column), and one row per (kind, name, version) among
# the rows that were not rejected.
SEARCH = [
    "ALTER TABLE library_components ADD COLUMN search tsvector",
    """
    CREATE FUNCTION library_components_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search :=
            setweight(to_tsvector('english',
                NEW.name || ' ' || replace(NEW.name, '_', ' ') || ' ' || NEW.title), 'A')
            || setweight(to_tsvector('english',
                NEW.summary || ' ' || replace(array_to_string(NEW.tags, ' '), '_', ' ')), 'B')
            || setweight(to_tsvector('english', NEW.description), 'C');
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER library_components_search
    BEFORE INSERT OR UPDATE ON library_components
    FOR EACH ROW EXECUTE FUNCTION library_components_search()
    """,
    "CREATE INDEX library_components_search_idx ON library_components USING GIN (search)",
    """
    CREATE UNIQUE INDEX library_components_version_idx
    ON library_components (kind, name, version) WHERE status <> 'rejected'
    """,
]


class LibraryComponentRaw(Table, tablename="library_components", schema=None):
    pass


async def search_index():
    for statement in SEARCH:
        await LibraryComponentRaw.raw(statement)


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="spikex", description=DESCRIPTION
    )
    # A migration's raw steps run before its tables are made: this one follows the tables'.
    manager.add_raw(search_index)
    return manager

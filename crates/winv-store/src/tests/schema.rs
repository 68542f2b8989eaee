//! The two migration folders give the same schema.

use std::collections::BTreeSet;

use super::TestDb;

/// (table, column, normalised type, not null) of every column of every table, and every
/// index name and `view NAME` of every view.
async fn schema(db: &TestDb) -> (BTreeSet<(String, String, String, bool)>, BTreeSet<String>) {
    let store = db.open().await;
    let (cols_sql, idx_sql) = if store.location().is_postgres() {
        (
            "SELECT table_name AS t, column_name AS c, data_type AS ty, \
                    CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS nn \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' \
               AND table_name NOT IN (SELECT table_name FROM information_schema.views \
                                      WHERE table_schema = 'public') \
               AND $1 = $1",
            "SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public' \
               AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key' \
               AND $1 = $1 \
             UNION SELECT 'view ' || table_name FROM information_schema.views \
               WHERE table_schema = 'public' AND $1 = $1",
        )
    } else {
        (
            "SELECT m.name AS t, p.name AS c, p.type AS ty, \
                    CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 THEN 1 ELSE 0 END AS nn \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name <> '_sqlx_migrations' AND $1 = $1",
            "SELECT name AS i FROM sqlite_master WHERE type = 'index' \
               AND name NOT LIKE 'sqlite_autoindex%' AND $1 = $1 \
             UNION SELECT 'view ' || name FROM sqlite_master WHERE type = 'view' AND $1 = $1",
        )
    };
    let norm = |t: &str| match t.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "bigint".to_string(),
        "text" => "text".to_string(),
        "boolean" => "boolean".to_string(),
        other => other.to_string(),
    };
    let cols = store
        .test_rows(cols_sql, 1, None)
        .await
        .into_iter()
        .map(|r| {
            let get = |k: &str| r.get(k).cloned().flatten().unwrap_or_default();
            (get("t"), get("c"), norm(&get("ty")), get("nn") == "1")
        })
        .collect();
    let idx = store
        .test_rows(idx_sql, 1, None)
        .await
        .into_iter()
        .map(|r| r.get("i").cloned().flatten().unwrap_or_default())
        .collect();
    store.close().await;
    (cols, idx)
}

#[tokio::test]
async fn both_migration_folders_give_the_same_tables_columns_and_indexes() {
    let [lite, pg] = crate::store::migrators();
    let versions = |m: &sqlx::migrate::Migrator| {
        m.iter()
            .map(|x| (x.version, x.description.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(lite), versions(pg));
    assert!(versions(lite).len() >= 2);

    let Some(pgdb) = TestDb::postgres() else {
        return;
    };
    let (lite_cols, lite_idx) = schema(&TestDb::sqlite("schema")).await;
    let (pg_cols, pg_idx) = schema(&pgdb).await;
    assert!(lite_cols.len() > 100, "{}", lite_cols.len());
    let only_lite: Vec<_> = lite_cols.difference(&pg_cols).collect();
    let only_pg: Vec<_> = pg_cols.difference(&lite_cols).collect();
    assert!(
        only_lite.is_empty() && only_pg.is_empty(),
        "only on sqlite: {only_lite:?}\nonly on postgres: {only_pg:?}"
    );
    assert_eq!(lite_idx, pg_idx);
    assert!(lite_idx.contains("work_queue"));
    assert!(lite_idx.contains("view machines_latest"), "{lite_idx:?}");
}

//! The real Postgres on this machine, for tests: each caller gets a schema of its own, so
//! tests run side by side on one database without seeing each other.

use openmog::store::PostgresStore;
use sqlx::postgres::PgConnectOptions;

/// Where the test database is (`TEST_POSTGRES_URL`, default the CI machine's).
fn url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Connection options for a fresh, empty schema; `None` (with the reason printed) when no
/// Postgres answers outside CI. Under `CI=true` a missing Postgres fails the test.
pub async fn fresh_schema() -> Option<PgConnectOptions> {
    let url = url();
    let options: PgConnectOptions = url.parse().expect("a valid TEST_POSTGRES_URL");
    let admin = match sqlx::PgPool::connect_with(options.clone()).await {
        Ok(pool) => pool,
        Err(err) => {
            let reason = format!("no Postgres at {url}: {err}");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{reason} (CI=true: a missing server is a failure)");
            }
            eprintln!(
                "SKIPPED: {reason}; set TEST_POSTGRES_URL or start Postgres to run this test"
            );
            return None;
        }
    };
    let schema = format!("t_{}", openmog::domain::new_short_id(12));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create a test schema");
    admin.close().await;
    Some(options.options([("search_path", schema.as_str())]))
}

/// A Postgres store in a fresh schema (see [`fresh_schema`]).
pub async fn store() -> Option<PostgresStore> {
    let options = fresh_schema().await?;
    Some(
        PostgresStore::open_with(options)
            .await
            .expect("the Postgres store opens"),
    )
}

//! The read side's queries (`read.rs` holds their SQL), compiled once per backend: this
//! file is the module `rq` of both `backend_sqlite` and `backend_pg`, whose `Db` and
//! `DbRow` name the driver, as `queries.rs` is `q`. Functions take the writer pool `w`
//! and the reader pool `r` (the same pool on PostgreSQL); reads use `r`.

use futures_util::TryStreamExt;
use sqlx::{Pool, Row};
use winv_engine::Status;

use super::{Db, DbRow};
use crate::error::StoreError;
use crate::model::RunId;
use crate::read::{
    computer_list_sql, computer_report_sql, computer_rows_sql, ComputerFilter, ComputerListRow,
    DbValue, RowSet, Ty, MAX_PAGE,
};

fn values(row: &DbRow, cols: &[(&'static str, Ty)]) -> Result<Vec<DbValue>, StoreError> {
    let mut out = Vec::with_capacity(cols.len());
    for (i, (_, ty)) in cols.iter().enumerate() {
        out.push(match ty {
            Ty::Int => row
                .try_get::<Option<i64>, _>(i)?
                .map_or(DbValue::Null, DbValue::Int),
            Ty::Text => row
                .try_get::<Option<String>, _>(i)?
                .map_or(DbValue::Null, DbValue::Text),
            Ty::Bool => row
                .try_get::<Option<bool>, _>(i)?
                .map_or(DbValue::Null, DbValue::Bool),
        });
    }
    Ok(out)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Streams the rows of `set` to `f` (not retried: see `Store::each_row`).
pub(crate) async fn each_row<E, F>(
    r: &Pool<Db>,
    run: RunId,
    set: RowSet,
    f: &mut F,
) -> Result<(), E>
where
    E: From<StoreError>,
    F: FnMut(Vec<DbValue>) -> Result<(), E>,
{
    let (sql, cols) = set.spec();
    let mut rows = sqlx::query(sql).bind(run).fetch(r);
    while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
        f(values(&row, cols)?)?;
    }
    Ok(())
}

pub(crate) async fn rows(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    set: RowSet,
) -> Result<Vec<Vec<DbValue>>, StoreError> {
    let (sql, cols) = set.spec();
    let rows = sqlx::query(sql).bind(run).fetch_all(r).await?;
    rows.iter().map(|row| values(row, cols)).collect()
}

pub(crate) async fn runs(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    limit: i64,
) -> Result<Vec<(RunId, i64, String, i64)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, started_ms, state, targets FROM runs ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(r)
            .await?,
    )
}

pub(crate) async fn progress(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<(u64, u64), StoreError> {
    let (all, done): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), SUM(CASE WHEN status <> $1 THEN 1 ELSE 0 END) \
         FROM computers WHERE run_id = $2",
    )
    .bind(Status::InventoryNotCompleted.as_str())
    .bind(run)
    .fetch_one(r)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok((n(all), n(done.unwrap_or(0))))
}

pub(crate) async fn computer_list(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    f: &ComputerFilter,
) -> Result<(Vec<ComputerListRow>, u64), StoreError> {
    let (count_sql, list_sql, binds) = computer_list_sql(f);
    let mut q = sqlx::query_scalar::<_, i64>(&count_sql).bind(run);
    for b in &binds {
        q = q.bind(b);
    }
    let total = q.fetch_one(r).await?;
    let mut q = sqlx::query(&list_sql).bind(run);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q
        .bind(to_i64(f.limit.clamp(1, MAX_PAGE)))
        .bind(to_i64(f.offset))
        .fetch_all(r)
        .await?;
    let list = rows
        .iter()
        .map(|r| -> Result<ComputerListRow, StoreError> {
            Ok(ComputerListRow {
                target: r.try_get(0)?,
                address: r.try_get(1)?,
                status: r.try_get(2)?,
                stage: r.try_get(3)?,
                code_name: r.try_get(4)?,
                name: r.try_get(5)?,
                os: r.try_get(6)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((list, u64::try_from(total).unwrap_or(0)))
}

pub(crate) async fn computer_report_rows(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    target: &str,
) -> Result<(Option<Vec<DbValue>>, Option<Vec<DbValue>>), StoreError> {
    let (os_sql, hw_sql) = computer_report_sql();
    let os = sqlx::query(&os_sql)
        .bind(run)
        .bind(target)
        .fetch_optional(r)
        .await?;
    let hw = sqlx::query(&hw_sql)
        .bind(run)
        .bind(target)
        .fetch_optional(r)
        .await?;
    Ok((
        os.map(|row| values(&row, RowSet::OperatingSystems.spec().1))
            .transpose()?,
        hw.map(|row| values(&row, RowSet::Hardware.spec().1))
            .transpose()?,
    ))
}

pub(crate) async fn computer_rows(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    target: &str,
    set: RowSet,
    limit: u64,
) -> Result<Vec<Vec<DbValue>>, StoreError> {
    let Some(sql) = computer_rows_sql(set) else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(&sql)
        .bind(run)
        .bind(target)
        .bind(to_i64(limit))
        .fetch_all(r)
        .await?;
    let cols = set.spec().1;
    rows.iter().map(|row| values(row, cols)).collect()
}

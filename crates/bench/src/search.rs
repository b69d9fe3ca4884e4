//! The instance search on Postgres at size: fills a fresh database with `--search-rows`
//! instances (1 000 000 by default) in one `INSERT … SELECT generate_series`, then times
//! `Store::list_instances` (what `GET /api/v1/instances` ends in) for each filter shape the
//! dashboard sends, one query at a time. The target is a p99 of at most 20 ms per shape.

use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use model::VariableFilter;
use serde::Serialize;
use store::{InstanceFilter, Page};

use crate::stats::{Summary, summarize};

pub const TARGET_P99_MS: f64 = 20.0;
const TENANT: &str = "default";

#[derive(Debug, Serialize)]
pub struct Shape {
    pub name: &'static str,
    pub query: String,
    pub rows_found: usize,
    pub latency: Summary,
    pub meets_target: bool,
}

#[derive(Debug, Serialize)]
pub struct SearchReport {
    pub rows: u64,
    pub fill_seconds: f64,
    pub queries_per_shape: usize,
    pub target_p99_ms: f64,
    pub shapes: Vec<Shape>,
    pub meets_target: bool,
}

/// Every row: `{"email": "user<n>@example.com", "order": {"id": n, "region": <one of 5>},
/// "plan": <one of 4>, "vip": <1 in 100>}`; ids ordered as the engine's time-ordered ids are,
/// five statuses, three templates, creation times one second apart ending now.
const FILL: &str = "INSERT INTO workflow.instances (id, tenant, template_id, template_version, \
     status, variables, output, error, parent_instance_id, state, created_at, started_at, \
     completed_at, updated_at) \
   SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, $1, \
     ('00000000-0000-7000-8000-00000000000' || (n % 3))::uuid, 1, \
     (ARRAY['pending','running','completed','failed','cancelled'])[1 + n % 5], \
     jsonb_build_object('email', 'user' || n || '@example.com', \
       'order', jsonb_build_object('id', n, 'region', (ARRAY['eu','us','apac','latam','mea'])[1 + n % 5]), \
       'plan', (ARRAY['free','team','business','enterprise'])[1 + n % 4], 'vip', n % 100 = 0), \
     NULL, NULL, NULL, '{}'::jsonb, \
     $3 - make_interval(secs => $2 - n), $3 - make_interval(secs => $2 - n), NULL, \
     $3 - make_interval(secs => $2 - n) \
   FROM generate_series(1, $2::int) AS n";

pub async fn run(rows: u64, queries: usize) -> anyhow::Result<(SearchReport, String)> {
    let url = testkit::fresh_postgres_url().await?;
    let store = store::connect_store(Some(&url), 4).await?;
    store.migrate().await?;
    let pool = sqlx::PgPool::connect(&url).await?;
    eprintln!("bench: search, filling {rows} instances");
    let started = Instant::now();
    let now = Utc::now();
    sqlx::query(FILL)
        .bind(TENANT)
        .bind(i32::try_from(rows).context("--search-rows fits an int")?)
        .bind(now)
        .execute(&pool)
        .await
        .context("filling the instances")?;
    // VACUUM as well as ANALYZE: the first reads after a bulk insert set every row's hint
    // bits (writes), which a table in service has long had; measure that table, not this one.
    sqlx::raw_sql("VACUUM (ANALYZE) workflow.instances")
        .execute(&pool)
        .await?;
    pool.close().await;
    let fill_seconds = started.elapsed().as_secs_f64();
    eprintln!("bench: search, filled in {fill_seconds:.1} s");

    let shapes = shapes(rows, now);
    let mut measured = Vec::new();
    for (name, filter) in shapes {
        // Warm-up: the first calls plan the statement and read the index from disk.
        let found = store.list_instances(TENANT, &filter).await?.len();
        for _ in 0..4 {
            store.list_instances(TENANT, &filter).await?;
        }
        let mut samples = Vec::with_capacity(queries);
        for _ in 0..queries {
            let start = Instant::now();
            store.list_instances(TENANT, &filter).await?;
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        let latency = summarize(&samples);
        measured.push(Shape {
            name,
            query: describe(&filter),
            rows_found: found,
            meets_target: latency.p99_ms <= TARGET_P99_MS,
            latency,
        });
    }
    let meets_target = measured.iter().all(|shape| shape.meets_target);
    Ok((
        SearchReport {
            rows,
            fill_seconds,
            queries_per_shape: queries,
            target_p99_ms: TARGET_P99_MS,
            shapes: measured,
            meets_target,
        },
        url,
    ))
}

fn variable(path: &str, value: &str) -> VariableFilter {
    VariableFilter::parse(path, value).expect("the benchmark's filters are valid")
}

fn shapes(rows: u64, now: chrono::DateTime<Utc>) -> Vec<(&'static str, InstanceFilter)> {
    let page = Page {
        limit: 50,
        cursor: None,
    };
    let middle = rows / 2;
    let base = || InstanceFilter {
        page: page.clone(),
        ..Default::default()
    };
    vec![
        ("newest page, no filter", base()),
        (
            "one email (1 match)",
            InstanceFilter {
                variables: vec![variable("email", &format!("user{middle}@example.com"))],
                ..base()
            },
        ),
        (
            "nested number (1 match)",
            InstanceFilter {
                variables: vec![variable("order.id", &middle.to_string())],
                ..base()
            },
        ),
        (
            "rare flag (1 in 100) and a status",
            InstanceFilter {
                variables: vec![variable("vip", "true")],
                status: Some(model::InstanceStatus::Pending),
                ..base()
            },
        ),
        (
            // Every vip row is pending (n % 100 = 0 implies n % 5 = 0): the planner, assuming
            // the two independent, walks the id index for 50 rows that do not exist.
            "flag and a status never together (worst case)",
            InstanceFilter {
                variables: vec![variable("vip", "true")],
                status: Some(model::InstanceStatus::Completed),
                ..base()
            },
        ),
        (
            "common value (1 in 4) and a nested one (1 in 5)",
            InstanceFilter {
                variables: vec![
                    variable("plan", "business"),
                    variable("order.region", "apac"),
                ],
                ..base()
            },
        ),
        (
            "no match",
            InstanceFilter {
                variables: vec![variable("email", "nobody@example.com")],
                ..base()
            },
        ),
        (
            "created in the last hour",
            InstanceFilter {
                created_after: Some(now - Duration::hours(1)),
                ..base()
            },
        ),
        (
            // Issue 9's goal names this shape: the dashboard's status and template pickers.
            "a status and a template",
            InstanceFilter {
                status: Some(model::InstanceStatus::Running),
                template_id: Some(uuid_of("00000000-0000-7000-8000-000000000002")),
                ..base()
            },
        ),
        (
            "updated in the last day, one template",
            InstanceFilter {
                updated_after: Some(now - Duration::days(1)),
                template_id: Some(uuid_of("00000000-0000-7000-8000-000000000001")),
                ..base()
            },
        ),
    ]
}

fn uuid_of(text: &str) -> uuid::Uuid {
    text.parse().expect("a literal uuid")
}

fn describe(filter: &InstanceFilter) -> String {
    let mut parts = Vec::new();
    if let Some(status) = filter.status {
        parts.push(format!("status={}", status.as_str()));
    }
    if let Some(id) = filter.template_id {
        parts.push(format!("template_id={id}"));
    }
    if filter.created_after.is_some() {
        parts.push("created_after=…".to_string());
    }
    if filter.updated_after.is_some() {
        parts.push("updated_after=…".to_string());
    }
    for v in &filter.variables {
        parts.push(format!("variables.{}={}", v.dotted(), v.raw_value()));
    }
    parts.push(format!("limit={}", filter.page.limit));
    parts.join("&")
}

pub fn table(report: &SearchReport) -> String {
    let mut out = format!(
        "instance search on postgres, {} rows (filled in {:.1} s), {} queries per shape, target p99 <= {} ms\n",
        report.rows, report.fill_seconds, report.queries_per_shape, report.target_p99_ms
    );
    out.push_str(&format!(
        "{:<48} {:>6} {:>9} {:>9} {:>9}\n",
        "shape", "found", "p50 ms", "p99 ms", "max ms"
    ));
    for shape in &report.shapes {
        out.push_str(&format!(
            "{:<48} {:>6} {:>9.2} {:>9.2} {:>9.2}{}\n",
            shape.name,
            shape.rows_found,
            shape.latency.p50_ms,
            shape.latency.p99_ms,
            shape.latency.max_ms,
            if shape.meets_target {
                ""
            } else {
                "  (over target)"
            }
        ));
    }
    out
}

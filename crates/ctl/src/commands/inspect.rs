//! `get`, `steps` and `list`: tables for a person, the API's JSON with `--output json`.

use serde_json::Value;

use crate::api::{Instance, Page, Template, parse};
use crate::cli::{ListArgs, ListKind, Output};
use crate::client::Client;
use crate::error::{CtlError, Result, exit};
use crate::table::{pretty, print, print_json, render, span, table, time};

pub(super) async fn get(client: &Client, id: &str, output: Output) -> Result<i32> {
    let (instance, raw) = client.instance(id).await?;
    if output == Output::Json {
        print_json(&raw)?;
        return Ok(exit::OK);
    }
    let template = client
        .get(&format!("/templates/{}", instance.template_id), &[])
        .await
        .ok()
        .and_then(|raw| serde_json::from_value::<Template>(raw).ok())
        .map_or_else(|| instance.template_id.clone(), |t| t.name);
    let mut rows = table(["FIELD", "VALUE"]);
    rows.add_row(["id", &instance.id]);
    rows.add_row([
        "template",
        &format!(
            "{template} v{} ({})",
            instance.template_version, instance.template_id
        ),
    ]);
    rows.add_row(["status", &instance.status]);
    rows.add_row(["created", &time(Some(&instance.created_at))]);
    rows.add_row(["started", &time(instance.started_at.as_deref())]);
    rows.add_row(["completed", &time(instance.completed_at.as_deref())]);
    rows.add_row([
        "took",
        &span(
            instance.started_at.as_deref(),
            instance.completed_at.as_deref(),
        ),
    ]);
    if let Some(parent) = &instance.parent_instance_id {
        rows.add_row(["parent", parent]);
    }
    if let Some(error) = &instance.error {
        rows.add_row(["error", &format!("{}: {}", error.kind, error.message)]);
    }
    let mut text = render(&rows);
    text.push_str(&format!("\nvariables:\n{}\n", pretty(&instance.variables)));
    if let Some(out) = &instance.output {
        text.push_str(&format!("\noutput:\n{}\n", pretty(out)));
    }
    print(text)?;
    Ok(exit::OK)
}

pub(super) async fn steps(client: &Client, id: &str, output: Output) -> Result<i32> {
    let (steps, raw) = client.steps(id).await?;
    if output == Output::Json {
        print_json(&raw)?;
        return Ok(exit::OK);
    }
    let mut rows = table(["STEP", "NAME", "TYPE", "STATUS", "ATTEMPT", "TOOK", "ERROR"]);
    for step in &steps {
        rows.add_row([
            step.step_id.clone(),
            step.name.clone().unwrap_or_default(),
            step.kind.clone(),
            step.status.clone(),
            step.attempt.to_string(),
            span(
                step.started_at.as_deref().or(Some(&step.created_at)),
                step.completed_at.as_deref(),
            ),
            step.error
                .as_ref()
                .map(|e| format!("{}: {}", e.kind, e.message))
                .unwrap_or_default(),
        ]);
    }
    print(render(&rows))?;
    if steps.is_empty() {
        eprintln!("no steps have run yet");
    }
    Ok(exit::OK)
}

pub(super) async fn list(client: &Client, args: ListArgs, output: Output) -> Result<i32> {
    let mut query = Vec::new();
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = &args.cursor {
        query.push(("cursor", cursor.clone()));
    }
    let path = match args.what {
        ListKind::Templates => {
            if args.status.is_some() || args.template.is_some() {
                return Err(CtlError::Usage(
                    "--status and --template filter instances, not templates".into(),
                ));
            }
            "/templates"
        }
        ListKind::Instances => {
            if let Some(status) = &args.status {
                query.push(("status", status.clone()));
            }
            if let Some(template) = &args.template {
                let id = client.resolve_template(template).await?.id;
                query.push(("template_id", id));
            }
            "/instances"
        }
    };
    let raw = client.get(path, &query).await?;
    if output == Output::Json {
        print_json(&raw)?;
        return Ok(exit::OK);
    }
    let next = match args.what {
        ListKind::Templates => templates(client, path, &raw)?,
        ListKind::Instances => instances(client, path, &raw).await?,
    };
    if let Some(cursor) = next {
        eprintln!("more: add --cursor {cursor}");
    }
    Ok(exit::OK)
}

fn templates(client: &Client, path: &str, raw: &Value) -> Result<Option<String>> {
    let page: Page<Template> = parse(client, path, raw)?;
    let mut rows = table(["ID", "NAME", "VERSION", "UPDATED", "DESCRIPTION"]);
    for t in &page.items {
        rows.add_row([
            t.id.clone(),
            t.name.clone(),
            t.version.to_string(),
            time(Some(&t.updated_at)),
            t.description.clone().unwrap_or_default(),
        ]);
    }
    print(render(&rows))?;
    if page.items.is_empty() {
        eprintln!("no templates yet: `workflow-engine ctl apply FILE` makes one");
    }
    Ok(page.next_cursor)
}

async fn instances(client: &Client, path: &str, raw: &Value) -> Result<Option<String>> {
    let page: Page<Instance> = parse(client, path, raw)?;
    let names = if page.items.is_empty() {
        Default::default()
    } else {
        client.template_names().await.unwrap_or_default()
    };
    let mut rows = table(["ID", "TEMPLATE", "VERSION", "STATUS", "CREATED", "TOOK"]);
    for i in &page.items {
        rows.add_row([
            i.id.clone(),
            names
                .get(&i.template_id)
                .cloned()
                .unwrap_or_else(|| i.template_id.clone()),
            i.template_version.to_string(),
            i.status.clone(),
            time(Some(&i.created_at)),
            span(i.started_at.as_deref(), i.completed_at.as_deref()),
        ]);
    }
    print(render(&rows))?;
    if page.items.is_empty() {
        eprintln!("no instances");
    }
    Ok(page.next_cursor)
}

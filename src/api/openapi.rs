//! The OpenAPI document served at `/openapi.json`.

use serde_json::{Value, json};
use utoipa::OpenApi;

use super::MetricTable;
use super::error::ErrorBody;
use crate::metrics;
use crate::metrics::customer::Customer;

/// The schemas of every body the API sends, derived from the types it serialises
/// ([`Customer`], [`MetricTable`], [`ErrorBody`]), so the document cannot drift from
/// the answers.
#[derive(OpenApi)]
#[openapi(components(schemas(Customer, MetricTable, ErrorBody)))]
struct Bodies;

fn schemas() -> Value {
    let components = Bodies::openapi().components.unwrap_or_default();
    serde_json::to_value(components.schemas).unwrap_or_else(|_| json!({}))
}

/// The OpenAPI 3.1 description of the API: the routes are listed here, beside the
/// router; every body's schema is derived from its type.
pub fn openapi_document() -> Value {
    let error = json!({ "$ref": "#/components/responses/Error" });
    let date_param = |name: &str, what: &str| {
        json!({
            "name": name, "in": "query", "required": false,
            "description": what,
            "schema": { "type": "string", "format": "date" }
        })
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "snapmetrics Customer Data API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only customer records and product metrics computed from one Parquet snapshot. Errors are {code, error, message} with code the HTTP status."
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/customers/{id}": {
                "get": {
                    "summary": "One customer's record",
                    "parameters": [
                        { "name": "id", "in": "path", "required": true, "description": "users.id",
                          "schema": { "type": "integer", "format": "int64", "minimum": 0 } },
                        { "name": "include_pii", "in": "query", "required": false,
                          "description": "Add email, first_name, last_name, date_of_birth; needs a PII token",
                          "schema": { "type": "boolean", "default": false } }
                    ],
                    "responses": {
                        "200": { "description": "The record",
                                 "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Customer" } } } },
                        "400": error, "401": error, "403": error, "404": error, "503": error
                    }
                }
            },
            "/metrics/{name}": {
                "get": {
                    "summary": "One metric table",
                    "parameters": [
                        { "name": "name", "in": "path", "required": true,
                          "schema": { "type": "string", "enum": metrics::names() } },
                        date_param("from", "First signup date (cohorts) or month (monthly metrics), inclusive"),
                        date_param("to", "Last signup date (cohorts) or month (monthly metrics), inclusive"),
                        { "name": "active_only", "in": "query", "required": false,
                          "description": "Only users whose is_active is true or NULL",
                          "schema": { "type": "boolean", "default": false } }
                    ],
                    "responses": {
                        "200": { "description": "The metric's rows",
                                 "content": { "application/json": { "schema": { "$ref": "#/components/schemas/MetricTable" } } } },
                        "400": error, "401": error, "404": error, "503": error
                    }
                }
            },
            "/snapshots": {
                "get": {
                    "summary": "The store's snapshots and the one being served",
                    "responses": {
                        "200": { "description": "Snapshots, oldest first",
                                 "content": { "application/json": { "schema": { "type": "object" } } } },
                        "401": error
                    }
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness; no token needed",
                    "security": [],
                    "responses": { "200": { "description": "{\"status\": \"ok\"}" } }
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document; no token needed",
                    "security": [],
                    "responses": { "200": { "description": "OpenAPI 3 document" } }
                }
            }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            },
            "schemas": schemas(),
        }
    })
}

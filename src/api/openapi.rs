//! The OpenAPI document served at `/openapi.json`.

use serde_json::{Value, json};

use crate::metrics;

/// The OpenAPI 3 description of the API, written by hand: the API is small, and this
/// keeps the build free of code generators.
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
        "openapi": "3.0.3",
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "error", "message"],
                    "properties": {
                        "code": { "type": "integer", "description": "The HTTP status" },
                        "error": { "type": "string", "description": "Stable name, e.g. malformed_id, unauthorized, pii_not_granted, customer_not_found, unknown_metric, invalid_query, timeout" },
                        "message": { "type": "string" }
                    }
                },
                "Customer": {
                    "type": "object",
                    "properties": {
                        "snapshot": { "type": "string" },
                        "as_of": { "type": "string", "format": "date-time" },
                        "id": { "type": "integer", "format": "int64" },
                        "display_name": { "type": "string", "nullable": true },
                        "email": { "type": "string", "nullable": true, "description": "PII" },
                        "first_name": { "type": "string", "nullable": true, "description": "PII" },
                        "last_name": { "type": "string", "nullable": true, "description": "PII" },
                        "date_of_birth": { "type": "string", "format": "date", "nullable": true, "description": "PII" },
                        "created_at": { "type": "string", "format": "date-time" },
                        "cohort_week": { "type": "string", "format": "date" },
                        "is_active": { "type": "boolean" },
                        "onboarding": {
                            "type": "object", "nullable": true,
                            "properties": {
                                "started_at": { "type": "string", "format": "date-time" },
                                "last_step_completed": { "type": "integer" },
                                "total_steps": { "type": "integer" },
                                "completed_at": { "type": "string", "format": "date-time", "nullable": true },
                                "responses": { "description": "The answers as JSON", "nullable": true }
                            }
                        },
                        "activity": {
                            "type": "object",
                            "properties": {
                                "logins_total": { "type": "integer" },
                                "logins_last_30_days": { "type": "integer" },
                                "last_login_at": { "type": "string", "format": "date-time", "nullable": true },
                                "dashboard_accesses": { "type": "integer" },
                                "active_weeks": { "type": "integer" }
                            }
                        },
                        "transactions": {
                            "type": "object",
                            "properties": {
                                "count": { "type": "integer" },
                                "first_date": { "type": "string", "format": "date", "nullable": true },
                                "last_date": { "type": "string", "format": "date", "nullable": true },
                                "banks": { "type": "array", "items": { "type": "string" } },
                                "total_in": { "type": "string", "description": "Decimal, 2 places" },
                                "total_out": { "type": "string", "description": "Decimal, 2 places" },
                                "statement_uploads": { "type": "integer" }
                            }
                        }
                    }
                },
                "MetricTable": {
                    "type": "object",
                    "properties": {
                        "metric": { "type": "string" },
                        "snapshot": { "type": "string" },
                        "as_of": { "type": "string", "format": "date-time" },
                        "filters": { "type": "object" },
                        "columns": { "type": "array", "items": { "type": "string" } },
                        "rows": { "type": "array", "items": { "type": "object" },
                                  "description": "As the metric query returns them: rates and medians unrounded" }
                    }
                }
            }
        }
    })
}

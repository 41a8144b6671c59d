//! Historical currencies through the binary: a currency is valid for cash
//! seized on a UTC day it was current (ISO 4217: HRK through 2023-01, ZWG
//! from 2024-04), and a network's fee in one current on some day of the
//! operation's period.

use crate::support::{data, Store};

fn store() -> Store {
    let store = Store::new();
    store.append(&data("currencies/launch.ndjson")).ok();
    store
}

fn cash(operation: &str, country: &str, at: &str, currency: &str) -> String {
    format!(
        r#"{{"operation": "{operation}", "type": "CashSeized", "data": {{"country": "{country}", "occurred_at": "{at}", "currency": "{currency}", "amount": "100.00"}}}}"#
    )
}

fn fee(operation: &str, currency: &str) -> String {
    format!(
        r#"{{"operation": "{operation}", "type": "NetworkProfiled", "data": {{"network": "net-1", "max_fee": {{"currency": "{currency}", "amount": "7000"}}}}}}"#
    )
}

#[test]
fn a_withdrawn_currency_is_accepted_while_it_was_current_and_refused_after() {
    let store = store();
    for line in [
        cash("older", "HR", "2019-12-10T10:00:00+01:00", "HRK"),
        cash("changeover", "HR", "2023-01-31T23:59:59Z", "HRK"),
        // The UTC date decides: 00:30 at +01:00 on 1 February is still 31 January.
        cash("changeover", "HR", "2023-02-01T00:30:00+01:00", "HRK"),
        cash("changeover", "HR", "2023-02-01T00:00:00Z", "EUR"),
    ] {
        store.append(&line).ok();
    }
    let before = store.log_bytes();
    let stderr = store
        .append(&cash("changeover", "HR", "2023-02-01T00:00:00Z", "HRK"))
        .fails(1);
    assert!(
        stderr.starts_with("error: line 1: data.currency: HRK was withdrawn (ISO 4217: current through 2023-01), so it was not current on 2023-02-01"),
        "{stderr}"
    );
    assert_eq!(store.log_bytes(), before);
}

#[test]
fn a_new_currency_is_refused_before_it_was_current() {
    let store = store();
    let stderr = store
        .append(&cash("later", "ZW", "2024-03-31T23:00:00Z", "ZWG"))
        .fails(1);
    assert!(
        stderr.starts_with("error: line 1: data.currency: ZWG was not yet current on 2024-03-31 (ISO 4217: current from 2024-04)"),
        "{stderr}"
    );
    store
        .append(&cash("later", "ZW", "2024-04-01T00:00:00Z", "ZWG"))
        .ok();
    store
        .append(&cash("older", "ZW", "2019-12-10T10:00:00Z", "ZWL"))
        .ok();
    let stderr = store
        .append(&cash("later", "ZW", "2024-04-01T00:00:00Z", "ZWD"))
        .fails(1);
    assert!(stderr.contains("ZWD was withdrawn"), "{stderr}");
}

#[test]
fn a_fee_must_be_in_a_currency_current_during_the_operation() {
    let store = store();
    store.append(&fee("older", "HRK")).ok();
    store.append(&fee("changeover", "HRK")).ok();
    let stderr = store.append(&fee("later", "HRK")).fails(1);
    assert!(
        stderr.starts_with("error: line 1: data.max_fee.currency: HRK was not current on any day of the operation's period 2024-03-25..2024-04-05"),
        "{stderr}"
    );
    // ZWG became current inside the period (2024-04): accepted.
    store.append(&fee("later", "ZWG")).ok();
    let stderr = store.append(&fee("older", "ZWG")).fails(1);
    assert!(
        stderr.contains("ZWG was not current on any day"),
        "{stderr}"
    );
}

#[test]
fn withdrawn_currencies_keep_their_minor_unit_of_the_time() {
    let store = store();
    // The lira and the peseta had no minor unit in use; the kuna had two.
    let stderr = store
        .append(&cash("older", "HR", "2019-12-10T10:00:00Z", "ITL"))
        .fails(1);
    assert!(
        stderr.contains("\"100.00\" has 2 decimal places but ITL has 0"),
        "{stderr}"
    );
    let line = cash("older", "HR", "2019-12-10T10:00:00Z", "ITL").replace("100.00", "100");
    let stderr = store.append(&line).fails(1);
    assert!(
        stderr.contains("ITL was withdrawn (ISO 4217: current through 2002-03)"),
        "{stderr}"
    );
    let line = cash("older", "HR", "2019-12-10T10:00:00Z", "HRK").replace("100.00", "100.005");
    let stderr = store.append(&line).fails(1);
    assert!(
        stderr.contains("has 3 decimal places but HRK has 2"),
        "{stderr}"
    );
}

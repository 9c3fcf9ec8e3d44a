// Package cashless implements the MDB cashless device (reader) of MDB/ICP 4.2
// Section 7, levels 1–3 including expanded currency mode.
//
// Layers:
//
//   - codec: Command / DecodeCommand / CommandLength for every VMC command,
//     Response / DecodeResponses / EncodeResponses for every reader message,
//     with multi-message blocks [MDB 4.2 §7.3.1, §7.4];
//   - state machine: Machine.Step, a pure transition over the states Inactive,
//     Disabled, Enabled, Session Idle, Vend, Revalue and Negative Vend
//     [MDB 4.2 §7.2], answering out-of-sequence commands with CMD OUT OF
//     SEQUENCE on the next POLL [MDB 4.2 §7.3];
//   - drivers: Peripheral (the gateway as reader, remote actions from the
//     modem) and VMC (a software vending machine controller for emulators and
//     tests), both over the link interfaces of package mdb.
//
// Amounts are in scaled units (price = amount × scale × 10^-decimals,
// [MDB 4.2 §7.4.2]).
//
// What MDB 4.2 cannot do for a remote operator: a reader cannot enable or
// disable itself towards the VMC (SetEnabled is local policy: no sessions,
// deny vends); it cannot reset the VMC (Reset announces JUST RESET so the VMC
// re-initialises the reader); and it cannot select or dispense a product —
// Dispense only pays for the selection a person presses next. MDB 4.3 remote
// product selection (option bit 6) is not implemented because its bytes are
// not publicly documented.
//
// The package imports only the standard library and package mdb.
package cashless

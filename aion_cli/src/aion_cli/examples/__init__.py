"""Example workflows shipped with the CLI; `aion demo` runs the order saga."""

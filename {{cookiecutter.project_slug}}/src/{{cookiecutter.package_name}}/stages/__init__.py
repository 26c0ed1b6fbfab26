"""One thin command per DVC stage: read params, call the library, write the outputs."""

"""The camera and drone image analytics engine: decode, motion gating, detection, tracking and
rules per zone. No Django import here (ARCHITECTURE §1): it runs inside `shequ serve`, in
`shequ vision-worker` processes on other hosts, or alone (`python -m shequ_vision analyse`)."""

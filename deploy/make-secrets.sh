#!/bin/sh
# Write the secrets deploy/compose.yaml reads into deploy/secrets/ (once; existing files are
# kept). Keys and passwords are random; the source credentials are the emulators' published
# demo values: replace those files with the real systems' credentials.
set -eu
dir="$(dirname "$0")/secrets"
mkdir -p "$dir"
chmod 700 "$dir"   # the files are readable inside the containers (uid 10001); the folder is not on the host

random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

put() {  # put NAME VALUE: write one secret unless it exists
    if [ ! -e "$dir/$1" ]; then
        printf '%s' "$2" > "$dir/$1"
        chmod 644 "$dir/$1"
        echo "wrote $dir/$1"
    fi
}

put postgres_password "$(random_hex)"
put audit_database_url "postgresql://ehp:$(cat "$dir/postgres_password")@postgres:5432/ehp"
put audit_patient_key "$(random_hex)"
put redis_password "$(random_hex)"
put cache_redis_url "redis://:$(cat "$dir/redis_password")@redis:6379/0"
put cache_encryption_key "$(random_hex)"
put cache_key_salt "$(random_hex)"
put fhir_token "emulator-token"
put lis_api_key "emulator-lis-key"
put dps_client_secret "emulator-dps-secret"
put ambulance_password "emulator-ambulance"

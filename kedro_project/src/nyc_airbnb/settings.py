"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics.html"""

from omegaconf.resolvers import oc

from nyc_airbnb.hooks import GitCommitTagHook

# Project hooks. kedro-mlflow's MlflowHook is registered automatically (entry point).
HOOKS = (GitCommitTagHook(),)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Kedro resolves ${oc.env:...} only in credentials by default; the deployment passes its
    # endpoints (MLFLOW_TRACKING_URI, MLOPS_MODEL_NAME...) as environment variables, so allow it
    # in every configuration file (catalog, parameters, mlflow.yml).
    "custom_resolvers": {"oc.env": oc.env},
}

"""Application services: learning from labels, training, ranking, annotation, the toolbox,
batch scoring. They work on a `ServiceContext` (services/context.py), which the composition
root (app/context.py) satisfies; they import no app module and no Qt."""

"""The settings sections, one class per concern, which :mod:`streamapp.config` composes.

Each module holds the types of one section (``STREAMAPP_<SECTION>__*``) and the pure
checks on them: :mod:`~streamapp.settings.kafka` (cluster connection, security and TLS
file checks), :mod:`~streamapp.settings.broker` (the broker streamapp starts itself),
:mod:`~streamapp.settings.topics`, :mod:`~streamapp.settings.model` (registry and
runtimes, as data), :mod:`~streamapp.settings.sampling`, :mod:`~streamapp.settings.http`,
:mod:`~streamapp.settings.status`, :mod:`~streamapp.settings.log`, and the roles'
:mod:`~streamapp.settings.scoring`, :mod:`~streamapp.settings.monitoring`,
:mod:`~streamapp.settings.retrain`. :mod:`~streamapp.settings.masking` says which values
are secrets and masks them for logs and ``config show``.

Settings import no product code (only :mod:`streamapp.plugins` to check an import
path's shape), so loading them never imports a role, Kafka or a model runtime, and the
packages that read them form no cycle.
"""

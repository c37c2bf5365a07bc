"""A template aion plugin: copy this distribution to start your own.

Installing it registers the ``template`` plugin with aion (see the ``aion``
entry point in pyproject.toml). It counts durable events per type and logs
each activity attempt::

    from aion_plugin_template import template_plugin

    print(template_plugin.event_counts())  # {"WorkflowStarted": 3, ...}
"""

from aion_plugin_template.plugin import ActivityAttemptLogger, TemplatePlugin, template_plugin

__all__ = ["ActivityAttemptLogger", "TemplatePlugin", "template_plugin"]

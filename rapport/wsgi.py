import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
application = get_wsgi_application()

# Everything loaded so far (settings, apps, models, URL patterns, templates) lives as long as
# the process. Freezing it keeps the cyclic collector from walking those objects again on
# every collection a request triggers: measured on the contact list, CPU per request 110 → 60 ms.
gc.collect()
gc.freeze()

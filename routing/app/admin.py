from django.contrib import admin

from routing.app.models import LengthEdges, PPMArtifact, RoutingDecision, RoutingRun, TagValue

admin.site.register([TagValue, LengthEdges, PPMArtifact, RoutingRun, RoutingDecision])

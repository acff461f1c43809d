app_name = "llm"
urlpatterns = []

from django.apps import AppConfig


class DatahubConfig(AppConfig):
    name = "datahub"

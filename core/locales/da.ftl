# Samtale: every sentence a citizen sees, in Danish (the default language).
# Rules (checked by tests): every sentence has LIX 25 or less and at most 12 words; every
# screen's headline and sentence together have LIX 25 or less; a label of one to three words
# has at most one long word (over six letters); one instruction a sentence; no technical
# words. Variables: { $municipality },
# { $phone }, { $hours }, { $seconds }.

## Help line: on every screen, in the same place.
help-title = Brug for hjælp?
help-call = Ring { $phone }
help-hours = { $hours }

## First run: the code.
code-headline = Skriv din kode
code-body = Du har fået koden af din kontaktperson.
code-wrong = Koden passer ikke. Tjek tallene.
code-action = Start samtalen
code-keypad-delete = Slet et tal
code-link-body = Koden er klar. Tryk på den store knap.

## Home: one big button once a meeting is remembered.
home-headline = Hej
home-body = Tryk på den store knap for at ringe.
home-action = Ring til { $municipality }

## The call.
joining-headline = Vi ringer op
joining-body = Vent lidt. Det tager kun et øjeblik.
waiting-headline = Du er klar
waiting-body = Din kontaktperson kommer snart. Du skal ikke gøre noget.
in-call-headline = Samtalen er i gang
in-call-body = Du kan tale nu.
reconnecting-headline = Vi forbinder igen
reconnecting-body = Du skal ikke gøre noget.
leave-action = Læg på
mute-on = Sluk mikrofon
mute-off = Tænd mikrofon
camera-on = Sluk kamera
camera-off = Tænd kamera

## The end (stays until the citizen acts).
ended-headline = Samtalen er slut
ended-you-left-body = Du lagde på.
ended-meeting-ended-body = Mødet er lukket.
ended-expired-body = Tiden til mødet er gået.
again-action = Ring igen
done-action = Tilbage

## When the call cannot be made.
failed-code-headline = Koden passer ikke
failed-code-body = Tjek koden. Prøv så igen.
fix-code-action = Ret koden
failed-unavailable-headline = Koden virker ikke mere
failed-unavailable-body = Ring til { $municipality }. Så får du en ny kode.
failed-full-headline = Mødet er fuldt
failed-full-body = Ring til { $municipality } for hjælp.
failed-network-headline = Ingen forbindelse
failed-network-body = Tjek at du er på internettet. Prøv så igen.
failed-server-headline = Noget gik galt
failed-server-body = Det er ikke din skyld. Ring til { $municipality }.
failed-busy-headline = Vent lidt
failed-busy-body = Du har prøvet mange gange. Vent { $seconds } sekunder.
retry-action = Prøv igen
call-help-action = Ring til { $municipality }

## Before the first call: the phone asks for the microphone and the camera.
permissions-headline = Lyd og billede
permissions-body = Appen skal bruge din mikrofon og dit kamera. Så kan I tale sammen.
permissions-action = Fortsæt
microphone-off-headline = Mikrofonen er slået fra
microphone-off-body = Du skal give appen lov til at bruge mikrofonen.
open-settings-action = Åbn indstillinger

## Back during a call.
confirm-leave-headline = Vil du lægge på?
confirm-leave-body = Hvis du lægger på, kan I ikke tale mere.
confirm-leave-action = Ja, læg på
stay-action = Nej, bliv i samtalen

## Outside the screens: the notification during a call, and what a screen reader says about
## the pictures.
notification-channel = Samtaler
notification-title = Du er i en samtale
notification-body = Tryk her for at se samtalen.
remote-video-label = Video af din kontaktperson
self-view-label = Dit eget billede

## Said during a call when the app notices a device that gives nothing.
notice-microphone-silent = Din mikrofon giver ingen lyd. Tjek at den ikke er slået fra.
notice-camera-dark = Dit kamera viser intet billede. Tjek at det ikke er slået fra.

## Said while waiting for the call when the silent check finds that no call relay can be
## reached from this network (UDP and TCP blocked).
notice-network-blocked = Dit internet kan stoppe opkaldet. Prøv et andet wifi, eller ring { $phone }.

## Said on the home screen when the app cannot reach the municipality's server.
notice-server-unreachable = Appen kan ikke nå kommunen lige nu. Tjek at du har internet.

## Said during a call when the others' statuses show that something does not get through,
## or that the other side muted (not a fault).
notice-peer-cannot-hear = Din kontaktperson kan ikke høre dig. De får også besked. Bliver det ved, så læg på og ring op igen.
notice-peer-not-heard = Der kommer ingen lyd fra din kontaktperson. De får også besked.
notice-peer-cannot-see = Din kontaktperson kan ikke se dig. Lyden virker stadig.
notice-peer-muted = Din kontaktperson har slået lyden fra. Du skal ikke gøre noget.
notice-peer-camera-off = Din kontaktperson har slået kameraet fra. Du skal ikke gøre noget.

## What the phone's own dialog says when it asks for the microphone and the camera (iOS: the
## app's Info.plist, written by samtale-brand).
microphone-usage = Appen skal bruge mikrofonen. Så kan I tale sammen.
camera-usage = Appen skal bruge kameraet. Så kan den anden se dig.

## Home, when the app knows whether the contact person is in the standing room.
contact-person = Din kontaktperson
home-present-headline = { $name } venter på dig
home-present-body = Tryk på den store knap for at tale sammen.
home-present-action = Gå ind nu
home-alone-body = { $name } er her ikke endnu. Du kan gå ind og vente.
home-alone-action = Gå ind og vent
